// The page's DOM: what is on screen, kept as keys so a language switch can re-render it, and the
// before/after comparison. It decides nothing about the job; web/flow.js calls it.
import { EXTENSION_BY_TYPE } from "./flow.js";
import { LANGS, formatSize, preferredLanguage, translate } from "./i18n.js";
import { formatUntil, reviewOpen } from "./review.js";
import { createReviewView } from "./reviewview.js";

// Types most browsers cannot draw (Safari draws HEIC; Chromium and Firefox do not).
const PREVIEWLESS_TYPES = ["image/heic", "image/heif"];

const LANG_KEY = "gazokako.lang";

export function createView(document) {
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $("job-form"),
    fileInput: $("file-input"),
    folderInput: $("folder-input"),
    folderLabel: $("folder-label"),
    dropZone: $("drop-zone"),
    preview: $("preview"),
    previewImg: $("preview-img"),
    previewInfo: $("preview-info"),
    previewDims: $("preview-dims"),
    previewBroken: $("preview-broken"),
    previewUnavailable: $("preview-unavailable"),
    previewEmpty: $("preview-empty"),
    start: $("start-button"),
    message: $("message"),
    messageText: $("message-text"),
    messageActions: $("message-actions"),
    progressSection: $("progress-section"),
    progress: $("upload-progress"),
    pct: $("upload-pct"),
    status: $("status"),
    elapsed: $("status-elapsed"),
    resultSection: $("result-section"),
    resultHeading: $("result-heading"),
    facesCount: $("faces-count"),
    reviewNote: $("review-note"),
    reviewOpen: $("review-open"),
    progressHeading: $("progress-heading"),
    compare: $("compare"),
    before: $("compare-before"),
    after: $("compare-after"),
    afterClip: $("compare-after-clip"),
    handle: $("compare-handle"),
    slider: $("compare-slider"),
    resultSize: $("result-size"),
    download: $("download-button"),
    del: $("delete-button"),
    again: $("again-button"),
    batchSection: $("batch-section"),
    batchHeading: $("batch-heading"),
    batchSummary: $("batch-summary"),
    batchList: $("batch-list"),
    batchDownload: $("batch-download"),
    batchDelete: $("batch-delete"),
    batchAgain: $("batch-again"),
  };

  const shown = {
    lang: "en",
    file: null,
    fileType: "",
    previewUrl: null,
    job: null, // the finished job on screen
    status: null, // {key, params}
    message: null, // {key, params, actions, ok}
    progress: null, // {loaded, total}
    batch: null, // {items, counts, summaryKey}
    reviewClosed: false, // the API refused a revision with 410: no "check the faces" any more
  };

  const t = (key, params) => translate(shown.lang, key, params);
  const size = (bytes) => formatSize(shown.lang, bytes);

  // What the review's buttons do is the flow's business; app.js fills these in.
  const hooks = { apply: () => {} };
  const review = createReviewView(document, {
    t,
    lang: () => shown.lang,
    onApply: (body) => hooks.apply(body),
    onClose: () => hideReview(),
  });

  /* ---------- language ---------- */

  function setLanguage(lang, remember) {
    shown.lang = LANGS.includes(lang) ? lang : "en";
    if (remember) {
      try {
        localStorage.setItem(LANG_KEY, shown.lang);
      } catch {
        // Private modes may refuse storage; the switch still works for this visit.
      }
    }
    document.documentElement.lang = shown.lang;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of document.querySelectorAll("[data-i18n-alt]")) {
      node.alt = t(node.dataset.i18nAlt);
    }
    for (const button of document.querySelectorAll(".lang-button")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === shown.lang));
    }
    renderDynamic();
  }

  function initialLanguage() {
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (LANGS.includes(saved)) return saved;
    } catch {
      // Fall through to the browser's preference.
    }
    return preferredLanguage(navigator.languages?.length ? navigator.languages : [navigator.language]);
  }

  function renderDynamic() {
    el.previewUnavailable.textContent = t("preview.unavailable", {
      type: (EXTENSION_BY_TYPE[shown.fileType] || "").toUpperCase(),
    });
    if (shown.file) {
      el.previewInfo.textContent = t("preview.info", { name: shown.file.name, size: size(shown.file.size) });
      const img = el.previewImg;
      el.previewDims.textContent = img.naturalWidth
        ? t("preview.dims", { w: img.naturalWidth, h: img.naturalHeight })
        : "";
    }
    renderStatus();
    renderMessage();
    renderProgress();
    renderResultText();
    renderBatch();
    review.render();
  }

  /* ---------- many photos ---------- */

  function showBatch(items, counts, summaryKey = "batch.summary") {
    const first = !shown.batch;
    shown.batch = { items, counts, summaryKey };
    el.batchSection.hidden = false;
    el.preview.hidden = true;
    renderBatch();
    if (first) el.batchHeading.focus();
  }

  function renderBatch() {
    const batch = shown.batch;
    if (!batch) return;
    const summary = t(batch.summaryKey, batch.counts);
    if (el.batchSummary.textContent !== summary) el.batchSummary.textContent = summary;
    const rows = el.batchList.children;
    batch.items.forEach((item, index) => {
      let row = rows[index];
      if (!row) {
        row = document.createElement("li");
        row.className = "batch-item";
        const name = document.createElement("span");
        name.className = "batch-name";
        const bar = document.createElement("progress");
        bar.max = 100;
        const status = document.createElement("span");
        status.className = "batch-status";
        const faces = document.createElement("span");
        faces.className = "batch-faces";
        const error = document.createElement("span");
        error.className = "batch-error";
        row.append(name, bar, status, faces, error);
        el.batchList.append(row);
      }
      const [name, bar, status, faces, error] = row.children;
      row.dataset.status = item.status;
      name.textContent = `${item.file.name} — ${size(item.file.size)}`;
      bar.value = item.total ? Math.floor((item.loaded / item.total) * 100) : 0;
      bar.setAttribute("aria-label", t("batch.progress", { name: item.file.name }));
      bar.hidden = item.status === "failed" && !item.jobId;
      status.textContent = t(`batch.status.${item.status}`);
      const count = item.job?.faces?.count;
      faces.textContent = item.status === "done" && typeof count === "number" ? t("batch.faces", { n: count }) : "";
      error.textContent = item.error ? t(item.error.key, item.error.params) : "";
    });
    const { done } = batch.counts;
    el.batchDownload.disabled = done === 0;
  }

  function hideBatch() {
    shown.batch = null;
    el.batchSection.hidden = true;
    el.batchList.replaceChildren();
  }

  /* ---------- status, message, progress ---------- */

  function setStatus(key, params = {}) {
    shown.status = key ? { key, params } : null;
    renderStatus();
  }

  function renderStatus() {
    const view = shown.status;
    const text = view ? t(view.key) : "";
    // The live region changes only when the status does; the ticking seconds sit outside it
    // so screen readers are not interrupted every second.
    if (el.status.textContent !== text) el.status.textContent = text;
    el.elapsed.textContent =
      view && typeof view.params.s === "number" ? t("status.elapsed", { s: view.params.s }) : "";
  }

  function showMessage(key, params = {}, actions = [], ok = false) {
    shown.message = { key, params, actions, ok };
    renderMessage();
    // Move focus to the first action so keyboard users land where they can act.
    const first = el.messageActions.querySelector("button");
    if (first) first.focus();
  }

  function clearMessage() {
    shown.message = null;
    renderMessage();
  }

  function renderMessage() {
    const view = shown.message;
    el.message.hidden = !view;
    el.messageActions.replaceChildren();
    if (!view) return;
    el.message.classList.toggle("message-ok", Boolean(view.ok));
    el.message.setAttribute("role", view.ok ? "status" : "alert");
    el.message.dataset.key = view.key;
    el.messageText.textContent = t(view.key, view.params);
    for (const action of view.actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.dataset.action = action.key;
      button.textContent = t(action.key);
      button.addEventListener("click", action.run);
      el.messageActions.append(button);
    }
  }

  function startProgress(total) {
    el.progressSection.hidden = false;
    setProgress(0, total);
  }

  function setProgress(loaded, total) {
    shown.progress = { loaded, total };
    renderProgress();
  }

  function renderProgress() {
    const view = shown.progress;
    if (!view) {
      el.pct.textContent = "";
      return;
    }
    const pct = view.total ? Math.floor((view.loaded / view.total) * 100) : 0;
    el.progress.value = pct;
    el.pct.textContent = t("progress.pct", { pct, done: size(view.loaded), total: size(view.total) });
  }

  function setBusy(busy, hasFile) {
    el.fileInput.disabled = busy;
    for (const input of el.form.querySelectorAll("fieldset input")) input.disabled = busy;
    el.start.disabled = busy || !hasFile;
    el.dropZone.classList.toggle("disabled", busy);
  }

  function selectedFormat() {
    return el.form.querySelector('input[name="format"]:checked')?.value || "auto";
  }

  function selectedOps() {
    const ops = [];
    if ($("op-grayscale").checked) ops.push("grayscale");
    const faces = el.form.querySelector('input[name="faces"]:checked')?.value;
    if (faces) ops.push(faces);
    return ops;
  }

  /* ---------- the chosen photo ---------- */

  function showPreview(file, type = "") {
    shown.file = file;
    shown.fileType = type;
    shown.previewUrl = URL.createObjectURL(file);
    el.previewBroken.hidden = true;
    el.previewUnavailable.hidden = true;
    el.previewEmpty.hidden = true;
    el.previewImg.hidden = false;
    el.previewImg.src = shown.previewUrl;
    el.preview.hidden = false;
    el.start.disabled = false;
    renderDynamic();
  }

  function clearPreview() {
    if (shown.previewUrl) URL.revokeObjectURL(shown.previewUrl);
    shown.noPreview = false;
    shown.file = null;
    shown.previewUrl = null;
    el.previewImg.removeAttribute("src");
    el.preview.hidden = true;
    el.start.disabled = true;
  }

  el.previewImg.addEventListener("load", () => renderDynamic());
  el.previewImg.addEventListener("error", () => {
    // The browser cannot decode it; the server has the final word, so the upload stays possible.
    if (!shown.file) return;
    el.previewImg.hidden = true;
    // HEIC (outside Safari) is a format the browser cannot draw, not a broken file: say so.
    const phoneFormat = PREVIEWLESS_TYPES.includes(shown.fileType);
    el.previewUnavailable.hidden = !phoneFormat;
    el.previewBroken.hidden = phoneFormat;
    shown.noPreview = true;
    renderDynamic();
  });

  /* ---------- the result ---------- */

  function showResult(job, { reviewClosed = false } = {}) {
    shown.job = job;
    shown.reviewClosed = reviewClosed;
    review.hide();
    const result = job.result;
    // Without a preview (HEIC outside Safari) the divider shows the result on both sides
    // rather than a broken "before" picture.
    el.before.src = (!shown.noPreview && shown.previewUrl) || result.url;
    el.after.src = result.url;
    if (result.width && result.height) {
      el.compare.style.aspectRatio = `${result.width} / ${result.height}`;
    }
    setSlider(Number(el.slider.value));
    el.resultSection.hidden = false;
    el.del.disabled = false;
    el.download.disabled = false;
    renderResultText();
    el.resultHeading.focus();
  }

  function renderResultText() {
    const job = shown.job;
    if (!job || job.status !== "done" || el.resultSection.hidden) return;
    const faceOps = (job.ops || []).some((op) => op.endsWith("_faces"));
    const count = job.faces?.count;
    if (faceOps && typeof count === "number") {
      const kind = job.faces.reviewed ? "result.reviewed" : "result.faces";
      const key = `${kind}.${count === 0 ? "0" : count === 1 ? "1" : "n"}`;
      el.facesCount.textContent = t(key, { n: count });
      el.facesCount.hidden = false;
    } else {
      el.facesCount.hidden = true;
    }
    // "Check the faces" while the API keeps the original (job.review_until, docs/JOBS.md), with
    // the time it is deleted; with no review_until the original is not kept (review closed).
    const open = !shown.reviewClosed && reviewOpen(job);
    el.reviewOpen.hidden = !open;
    if (open) {
      const until = typeof job.review_until === "string" ? formatUntil(job.review_until, shown.lang) : "";
      el.reviewNote.textContent = until ? t("review.note.until", { time: until }) : t("review.note.open");
    } else {
      el.reviewNote.textContent = faceOps && job.faces ? t("review.note.closed") : "";
    }
    el.reviewNote.hidden = !el.reviewNote.textContent;
    const r = job.result;
    el.resultSize.textContent = r.width
      ? t("result.size", { w: r.width, h: r.height, size: size(r.bytes || 0) })
      : "";
  }

  /** Whether the result picture is on screen with a link (its load errors then matter). */
  function resultShown() {
    return !el.resultSection.hidden && Boolean(el.after.getAttribute("src"));
  }

  function setSlider(value) {
    el.afterClip.style.clipPath = `inset(0 0 0 ${value}%)`;
    el.handle.style.left = `${value}%`;
  }
  el.slider.addEventListener("input", () => setSlider(Number(el.slider.value)));

  // Dragging on the picture itself moves the divider too (the range input stays the keyboard way).
  el.compare.addEventListener("pointerdown", (event) => {
    // Otherwise the browser starts dragging the picture itself and cancels the pointer.
    event.preventDefault();
    const touch = event.pointerType === "touch";
    const start = { x: event.clientX, y: event.clientY };
    let engaged = !touch;
    const move = (e) => {
      if (!engaged) {
        const dx = Math.abs(e.clientX - start.x);
        const dy = Math.abs(e.clientY - start.y);
        if (dx < 8 || dx < dy) return;
        engaged = true;
      }
      const rect = el.compare.getBoundingClientRect();
      const value = Math.min(100, Math.max(0, ((e.clientX - rect.left) / rect.width) * 100));
      el.slider.value = String(Math.round(value));
      setSlider(value);
    };
    const stop = () => {
      el.compare.removeEventListener("pointermove", move);
      el.compare.removeEventListener("pointerup", stop);
      el.compare.removeEventListener("pointercancel", stop);
    };
    // A finger that lands on the picture may only mean to scroll past it: the divider follows
    // it only once it moves sideways (a vertical swipe is the page's, and cancels the pointer).
    if (!touch) move(event);
    el.compare.setPointerCapture(event.pointerId);
    el.compare.addEventListener("pointermove", move);
    el.compare.addEventListener("pointerup", stop);
    el.compare.addEventListener("pointercancel", stop);
  });

  function saveBlob(blob, filename) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  /* ---------- the review ---------- */

  /** Opens "check the faces" over the original the person picked (the result stands in only
   * where the browser cannot draw the original, as HEIC outside Safari). */
  function openReview() {
    const job = shown.job;
    if (!job?.result) return;
    el.resultSection.hidden = true;
    const original = !shown.noPreview && shown.previewUrl;
    const fallback = original ? "" : (EXTENSION_BY_TYPE[shown.fileType] || "").toUpperCase() || "?";
    review.open(job, original || job.result.url, fallback);
  }

  /** Back from the review to the result on screen. */
  function hideReview() {
    review.hide();
    if (!shown.job) return;
    el.resultSection.hidden = false;
    renderResultText();
    (el.reviewOpen.hidden ? el.resultHeading : el.reviewOpen).focus();
  }

  /** A revision was accepted: the review and the old result make way for the progress. */
  function showRevising() {
    review.hide();
    el.resultSection.hidden = true;
    el.progressSection.hidden = false;
    el.progressHeading.focus();
  }

  function closeReview() {
    shown.reviewClosed = true;
    review.close();
  }

  function resetJob() {
    review.reset();
    shown.reviewClosed = false;
    shown.progress = null;
    shown.job = null;
    el.progress.value = 0;
    el.progressSection.hidden = true;
    el.resultSection.hidden = true;
    el.after.removeAttribute("src");
    el.before.removeAttribute("src");
  }

  return {
    el,
    t,
    hooks,
    openReview,
    hideReview,
    showRevising,
    closeReview,
    setReviewBusy: (busy) => review.setBusy(busy),
    reviewShown: () => review.shown(),
    formatSize: size,
    setLanguage,
    initialLanguage,
    setStatus,
    showMessage,
    clearMessage,
    messageKey: () => shown.message?.key ?? null,
    startProgress,
    revealProgress: () => el.progressSection.scrollIntoView({ block: "nearest" }),
    setProgress,
    setBusy,
    selectedOps,
    selectedFormat,
    showPreview,
    showDeleted: () => {
      el.preview.hidden = false;
      el.previewImg.hidden = true;
      el.previewBroken.hidden = true;
      el.previewUnavailable.hidden = true;
      el.previewEmpty.hidden = false;
      el.previewInfo.textContent = "";
      el.previewDims.textContent = "";
    },
    clearPreview,
    showResult,
    updateResult: (job) => {
      shown.job = job;
    },
    setResultUrl: (url) => {
      el.after.src = url;
    },
    resultShown,
    setDeleteDisabled: (disabled) => {
      el.del.disabled = disabled;
    },
    saveBlob,
    resetJob,
    showBatch,
    hideBatch,
    batchShown: () => Boolean(shown.batch),
    focusFileInput: () => el.fileInput.focus(),
  };
}
