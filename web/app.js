// gazokako page: choose a photo, upload it through a signed URL, follow the job, show the result.
// This module only wires the parts together: web/api.js talks to the API and storage,
// web/flow.js runs the job, web/view.js draws the page.
import { createApiClient, loadConfig, putFile } from "./api.js";
import { createBatch } from "./batch.js";
import { EXTENSION_BY_TYPE, createJobFlow } from "./flow.js";
import { filesOfDrop, visibleFiles } from "./folder.js";
import { hasMessage } from "./i18n.js";
import { createView } from "./view.js";

const view = createView(document);
const flow = createJobFlow({ view, makeApi: (config) => createApiClient(config), putFile, hasMessage });
const { el } = view;

/* ---------- choosing a file ---------- */

let config = null;
let batch = null;

/** One photo keeps the single flow; several become a batch, each file its own job. */
function chooseFiles(files) {
  if (!config || flow.state.busy || batch?.running()) return;
  if (files.length <= 1) {
    endBatch();
    flow.chooseFile(files[0]);
    return;
  }
  flow.startOver();
  endBatch();
  batch = createBatch({
    api: createApiClient(config),
    putFile,
    config,
    hasMessage,
    formatSize: view.formatSize,
    onChange: (items) => view.showBatch(items, batch.counts()),
  });
  batch.add(files);
  el.start.disabled = false;
}

function endBatch() {
  batch = null;
  view.hideBatch();
}

el.fileInput.addEventListener("change", () => {
  const files = [...(el.fileInput.files || [])];
  el.fileInput.value = "";
  chooseFiles(files);
});

// A whole folder, where the browser can choose one: each photo inside becomes its own job.
if ("webkitdirectory" in el.folderInput) {
  el.folderLabel.hidden = false;
  el.folderInput.addEventListener("change", () => {
    const files = visibleFiles(el.folderInput.files || []);
    el.folderInput.value = "";
    if (files.length) chooseFiles(files);
  });
}

for (const type of ["dragenter", "dragover"]) {
  el.dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    if (!flow.state.busy) el.dropZone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "dragend"]) {
  el.dropZone.addEventListener(type, () => el.dropZone.classList.remove("dragging"));
}
el.dropZone.addEventListener("drop", () => el.dropZone.classList.remove("dragging"));
// The whole page takes a dropped photo: one that misses the zone must not make the browser
// navigate away to the file.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", async (event) => {
  event.preventDefault();
  const files = await filesOfDrop(event.dataTransfer);
  if (files.length) chooseFiles(files);
});

document.addEventListener("paste", (event) => {
  const items = event.clipboardData ? [...event.clipboardData.items] : [];
  const item = items.find((entry) => entry.kind === "file");
  const file = item?.getAsFile();
  if (!file) return;
  event.preventDefault();
  // Screenshots pasted from the clipboard arrive without a useful name.
  const named =
    file.name && file.name !== "image.png"
      ? file
      : new File([file], `pasted.${EXTENSION_BY_TYPE[file.type] || "png"}`, { type: file.type });
  flow.chooseFile(named);
});

/* ---------- the job and its result ---------- */

el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (batch) {
    const ops = view.selectedOps();
    if (ops.length === 0) {
      view.showMessage("err.no_op");
      return;
    }
    view.clearMessage();
    el.start.disabled = true;
    batch.start(ops, view.selectedFormat());
    return;
  }
  flow.startJob();
});

el.batchDownload.addEventListener("click", async () => {
  if (!batch) return;
  view.clearMessage();
  try {
    const zip = await batch.zipResults();
    view.saveBlob(new Blob([zip], { type: "application/zip" }), "gazokako-results.zip");
  } catch {
    view.showMessage("err.network");
  }
});
el.batchDelete.addEventListener("click", async () => {
  if (!batch) return;
  el.batchDelete.disabled = true;
  const ok = await batch.deleteAll();
  el.batchDelete.disabled = false;
  const n = batch.counts().n;
  view.showBatch(batch.items, { ...batch.counts(), n }, ok ? "batch.deleted_all" : "batch.summary");
  if (ok) view.showMessage("batch.deleted_all", { n }, [], true);
  else view.showMessage("err.delete_failed", { detail: view.t("err.network") });
});
el.batchAgain.addEventListener("click", () => {
  endBatch();
  flow.startOver();
});

el.after.addEventListener("error", () => {
  if (view.resultShown()) flow.resultImageFailed();
});
el.after.addEventListener("load", () => {
  if (view.messageKey() === "err.result_expired") view.clearMessage();
});

el.download.addEventListener("click", () => flow.download());
// "Check the faces": the review view sends its box set through the flow, which waits for the
// new result like the first one.
el.reviewOpen.addEventListener("click", () => view.openReview());
view.hooks.apply = (body) => flow.applyRevision(body);
el.del.addEventListener("click", () => flow.deleteJob());
el.again.addEventListener("click", () => flow.startOver());

/* ---------- start ---------- */

for (const button of document.querySelectorAll(".lang-button")) {
  button.addEventListener("click", () => view.setLanguage(button.dataset.lang, true));
}

async function main() {
  view.setLanguage(view.initialLanguage(), false);
  try {
    config = await loadConfig();
    flow.setConfig(config);
  } catch {
    el.fileInput.disabled = true;
    view.showMessage("err.config");
    return;
  }
  document.body.dataset.ready = "true";
}

main();
