// gazokako page: choose a photo, upload it through a signed URL, follow the job, show the result.
// This module only wires the parts together: web/api.js talks to the API and storage,
// web/flow.js runs the job, web/view.js draws the page.
import { createApiClient, loadConfig, putFile } from "./api.js";
import { EXTENSION_BY_TYPE, createJobFlow } from "./flow.js";
import { hasMessage } from "./i18n.js";
import { createView } from "./view.js";

const view = createView(document);
const flow = createJobFlow({ view, makeApi: (config) => createApiClient(config), putFile, hasMessage });
const { el } = view;

/* ---------- choosing a file ---------- */

el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files?.[0];
  el.fileInput.value = "";
  flow.chooseFile(file);
});

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
window.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer?.files?.[0];
  if (file) flow.chooseFile(file);
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
  flow.startJob();
});

el.after.addEventListener("error", () => {
  if (view.resultShown()) flow.resultImageFailed();
});
el.after.addEventListener("load", () => {
  if (view.messageKey() === "err.result_expired") view.clearMessage();
});

el.download.addEventListener("click", () => flow.download());
el.del.addEventListener("click", () => flow.deleteJob());
el.again.addEventListener("click", () => flow.startOver());

/* ---------- start ---------- */

for (const button of document.querySelectorAll(".lang-button")) {
  button.addEventListener("click", () => view.setLanguage(button.dataset.lang, true));
}

async function main() {
  view.setLanguage(view.initialLanguage(), false);
  try {
    flow.setConfig(await loadConfig());
  } catch {
    el.fileInput.disabled = true;
    view.showMessage("err.config");
    return;
  }
  document.body.dataset.ready = "true";
}

main();
