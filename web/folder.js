// Folders of photos: a chosen folder (<input webkitdirectory>) or a dropped one (the Entries API,
// where the browser has it) becomes the list of files inside it, subfolders included, so each
// photo becomes its own job. No DOM here, so node's tests can drive it with stand-in entries.

/** Names a person never meant to send: the system's own files inside a folder. */
function isHidden(name) {
  return name.startsWith(".") || name === "Thumbs.db" || name === "desktop.ini";
}

/** Files of a folder chosen through <input webkitdirectory>, hidden system files left out. */
export function visibleFiles(files) {
  return [...files].filter((file) => !isHidden(file.name));
}

/** Every entry of a directory: readEntries answers in batches until it answers none. */
function readAll(reader) {
  return new Promise((resolve, reject) => {
    const all = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) {
          resolve(all);
          return;
        }
        all.push(...batch);
        next();
      }, reject);
    next();
  });
}

/** The files below one entry, depth first, in name order within each folder. */
export async function filesOfEntry(entry) {
  if (isHidden(entry.name)) return [];
  if (entry.isFile) {
    return [await new Promise((resolve, reject) => entry.file(resolve, reject))];
  }
  if (!entry.isDirectory) return [];
  const children = (await readAll(entry.createReader())).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const files = [];
  for (const child of children) files.push(...(await filesOfEntry(child)));
  return files;
}

/**
 * The files of a drop. Without the Entries API (or with nothing but plain files in the drop)
 * they are the drop's own files; a dropped folder is walked. The entries are taken before the
 * first await: the browser empties the drop's item list once the event handler returns.
 */
export async function filesOfDrop(dataTransfer) {
  const items = [...(dataTransfer?.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => item.webkitGetAsEntry?.() ?? null);
  if (entries.length === 0 || entries.some((entry) => entry === null)) {
    return [...(dataTransfer?.files || [])];
  }
  if (!entries.some((entry) => entry.isDirectory)) return [...(dataTransfer?.files || [])];
  const files = [];
  for (const entry of entries) files.push(...(await filesOfEntry(entry)));
  return files;
}
