// gazokako page: choose a photo, upload it through a signed URL, follow the job, show the result.
import { LANGS, formatSize, hasMessage, preferredLanguage, translate } from "./i18n.js";

const ALLOWED_TYPES = ["image/jpeg", "image/png", "image/webp"];
const TYPE_BY_EXTENSION = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp" };
const EXTENSION_BY_TYPE = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };
const LANG_KEY = "gazokako.lang";

// Defaults; config.json may override any of them (tests shorten the timeouts).
const DEFAULTS = {
  api_base: "",
  max_bytes: 20_000_000,
  poll_interval_ms: 1000,
  processing_timeout_s: 120,
  request_timeout_s: 30,
  upload_timeout_s: 300,
};
// A few failed polls in a row are tolerated: a phone briefly losing signal is not an error.
const POLL_NETWORK_RETRIES = 3;

const $ = (id) => document.getElementById(id);

const el = {
  form: $("job-form"),
  fileInput: $("file-input"),
  dropZone: $("drop-zone"),
  preview: $("preview"),
  previewImg: $("preview-img"),
  previewInfo: $("preview-info"),
  previewDims: $("preview-dims"),
  previewBroken: $("preview-broken"),
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
};

const state = {
  lang: "en",
  config: null,
  file: null,
  previewUrl: null,
  busy: false,
  job: null, // last job document seen
  jobId: null,
  xhr: null,
  pollTimer: null,
  tickTimer: null,
  pollFailures: 0,
  waitStartedAt: 0,
  deadline: 0,
  resultRefreshed: false,
  // What is on screen, kept as keys so a language switch can re-render it.
  statusView: null, // {key, params}
  messageView: null, // {key, params, actions, ok}
  progressView: null, // {loaded, total}
};

/* ---------- language ---------- */

function t(key, params) {
  return translate(state.lang, key, params);
}

function setLanguage(lang, remember) {
  state.lang = LANGS.includes(lang) ? lang : "en";
  if (remember) {
    try {
      localStorage.setItem(LANG_KEY, state.lang);
    } catch {
      // Private modes may refuse storage; the switch still works for this visit.
    }
  }
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll("[data-i18n-alt]")) {
    node.alt = t(node.dataset.i18nAlt);
  }
  for (const button of document.querySelectorAll(".lang-button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
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
  if (state.file) {
    el.previewInfo.textContent = t("preview.info", {
      name: state.file.name,
      size: formatSize(state.lang, state.file.size),
    });
    const img = el.previewImg;
    el.previewDims.textContent = img.naturalWidth
      ? t("preview.dims", { w: img.naturalWidth, h: img.naturalHeight })
      : "";
  }
  renderStatus();
  renderMessage();
  renderProgress();
  renderResultText();
}

/* ---------- small view helpers ---------- */

function setStatus(key, params = {}) {
  state.statusView = key ? { key, params } : null;
  renderStatus();
}

function renderStatus() {
  const view = state.statusView;
  const text = view ? t(view.key) : "";
  // The live region changes only when the status does; the ticking seconds sit outside it
  // so screen readers are not interrupted every second.
  if (el.status.textContent !== text) el.status.textContent = text;
  el.elapsed.textContent =
    view && typeof view.params.s === "number" ? t("status.elapsed", { s: view.params.s }) : "";
}

function showMessage(key, params = {}, actions = [], ok = false) {
  state.messageView = { key, params, actions, ok };
  renderMessage();
  // Move focus to the first action so keyboard users land where they can act.
  const first = el.messageActions.querySelector("button");
  if (first) first.focus();
}

function clearMessage() {
  state.messageView = null;
  renderMessage();
}

function renderMessage() {
  const view = state.messageView;
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

function renderProgress() {
  const view = state.progressView;
  if (!view) {
    el.pct.textContent = "";
    return;
  }
  const pct = view.total ? Math.floor((view.loaded / view.total) * 100) : 0;
  el.progress.value = pct;
  el.pct.textContent = t("progress.pct", {
    pct,
    done: formatSize(state.lang, view.loaded),
    total: formatSize(state.lang, view.total),
  });
}

function setBusy(busy) {
  state.busy = busy;
  el.fileInput.disabled = busy;
  for (const input of el.form.querySelectorAll("fieldset input")) input.disabled = busy;
  el.start.disabled = busy || !state.file;
  el.dropZone.classList.toggle("disabled", busy);
}

/* ---------- choosing a file ---------- */

function fileType(file) {
  if (file.type) return file.type;
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  return TYPE_BY_EXTENSION[ext] || "";
}

function chooseFile(file) {
  if (!file || state.busy || !state.config) return;
  resetJobView();
  clearMessage();
  const type = fileType(file);
  if (!ALLOWED_TYPES.includes(type)) {
    clearFile();
    showMessage("err.wrong_type", { name: file.name });
    return;
  }
  if (file.size > state.config.max_bytes) {
    clearFile();
    showMessage("err.too_large", { name: file.name, size: formatSize(state.lang, file.size) });
    return;
  }
  if (file.size === 0) {
    clearFile();
    showMessage("err.empty", { name: file.name });
    return;
  }
  clearFile();
  state.file = file;
  state.previewUrl = URL.createObjectURL(file);
  el.previewBroken.hidden = true;
  el.previewImg.hidden = false;
  el.previewImg.src = state.previewUrl;
  el.preview.hidden = false;
  el.start.disabled = false;
  renderDynamic();
}

function clearFile() {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.file = null;
  state.previewUrl = null;
  el.previewImg.removeAttribute("src");
  el.preview.hidden = true;
  el.start.disabled = true;
}

el.previewImg.addEventListener("load", () => renderDynamic());
el.previewImg.addEventListener("error", () => {
  // The browser cannot decode it; the server has the final word, so the upload stays possible.
  if (!state.file) return;
  el.previewImg.hidden = true;
  el.previewBroken.hidden = false;
  renderDynamic();
});

el.fileInput.addEventListener("change", () => {
  const file = el.fileInput.files?.[0];
  el.fileInput.value = "";
  chooseFile(file);
});

for (const type of ["dragenter", "dragover"]) {
  el.dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    if (!state.busy) el.dropZone.classList.add("dragging");
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
  if (file) chooseFile(file);
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
  chooseFile(named);
});

/* ---------- talking to the API ---------- */

class ApiError extends Error {
  constructor(kind, status = 0, code = "", message = "") {
    super(message || kind);
    this.kind = kind; // "network" | "timeout" | "http"
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), state.config.request_timeout_s * 1000);
  let response;
  try {
    response = await fetch(state.config.api_base + path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(error.name === "AbortError" ? "timeout" : "network");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data?.error || {};
    throw new ApiError("http", response.status, err.code || "", err.message || "");
  }
  return data;
}

/** Maps an API failure to a message key and its parameters. */
function describeApiError(error) {
  if (error.kind === "network") return ["err.network", {}];
  if (error.kind === "timeout") return ["err.request_timeout", {}];
  switch (error.status) {
    case 413:
      return ["err.too_large", { name: state.file?.name ?? "", size: formatSize(state.lang, state.file?.size ?? 0) }];
    case 415:
      return ["err.wrong_type", { name: state.file?.name ?? "" }];
    case 429:
      return ["err.rate_limited", {}];
    case 404:
      return ["err.job_gone", {}];
    case 400:
    case 405:
      return ["err.bad_request", { message: error.message || error.code || String(error.status) }];
    default:
      return ["err.server", { status: error.status }];
  }
}

function selectedOps() {
  const ops = [];
  if ($("op-grayscale").checked) ops.push("grayscale");
  const faces = el.form.querySelector('input[name="faces"]:checked')?.value;
  if (faces) ops.push(faces);
  return ops;
}

/* ---------- the job ---------- */

el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  startJob();
});

async function startJob() {
  if (state.busy || !state.file) return;
  const ops = selectedOps();
  if (ops.length === 0) {
    showMessage("err.no_op");
    return;
  }
  clearMessage();
  resetJobView();
  setBusy(true);
  el.progressSection.hidden = false;
  state.progressView = { loaded: 0, total: state.file.size };
  renderProgress();
  setStatus("status.creating");
  // On a short screen the progress is below the button: bring it into view.
  el.progressSection.scrollIntoView({ block: "nearest" });

  let created;
  try {
    created = await api("POST", "/uploads", {
      filename: state.file.name,
      content_type: fileType(state.file),
      size: state.file.size,
      ops,
    });
  } catch (error) {
    // Trying the same request again only helps when the refusal was not about the photo.
    const final = error.kind === "http" && [400, 413, 415].includes(error.status);
    failWith(...describeApiError(error), final ? [] : [retryAction()]);
    return;
  }
  state.jobId = created.id;
  setStatus("status.uploading");
  upload(created.upload);
}

function upload(target) {
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open(target.method || "PUT", target.url);
  for (const [name, value] of Object.entries(target.headers || {})) {
    xhr.setRequestHeader(name, value);
  }
  xhr.timeout = state.config.upload_timeout_s * 1000;
  xhr.upload.addEventListener("progress", (event) => {
    const total = event.lengthComputable ? event.total : state.file.size;
    state.progressView = { loaded: event.loaded, total };
    renderProgress();
  });
  xhr.addEventListener("load", () => {
    state.xhr = null;
    if (xhr.status >= 200 && xhr.status < 300) {
      state.progressView = { loaded: state.file.size, total: state.file.size };
      renderProgress();
      startWaiting();
      return;
    }
    const body = xhr.responseText || "";
    // Signed URLs answer 400 ExpiredToken (or 403 with "expired") once past their time.
    if (/expired/i.test(body)) {
      failWith("err.upload_expired", {}, [retryAction()]);
    } else if (xhr.status === 413 || /EntityTooLarge/i.test(body)) {
      failWith("err.too_large", { name: state.file.name, size: formatSize(state.lang, state.file.size) });
    } else {
      failWith("err.upload_refused", { status: xhr.status }, [retryAction()]);
    }
  });
  xhr.addEventListener("error", () => {
    state.xhr = null;
    failWith("err.upload_network", {}, [retryAction()]);
  });
  xhr.addEventListener("timeout", () => {
    state.xhr = null;
    failWith("err.upload_network", {}, [retryAction()]);
  });
  xhr.send(state.file);
}

function startWaiting() {
  state.waitStartedAt = Date.now();
  state.deadline = state.waitStartedAt + state.config.processing_timeout_s * 1000;
  state.pollFailures = 0;
  setStatus("status.awaiting_upload", { s: 0 });
  // The elapsed seconds tick on their own so the page visibly stays alive between polls.
  state.tickTimer = setInterval(renderElapsed, 1000);
  poll();
}

function elapsedSeconds() {
  return Math.round((Date.now() - state.waitStartedAt) / 1000);
}

function renderElapsed() {
  const view = state.statusView;
  if (view && (view.key === "status.awaiting_upload" || view.key === "status.processing")) {
    setStatus(view.key, { s: elapsedSeconds() });
  }
}

function stopWaiting() {
  clearTimeout(state.pollTimer);
  clearInterval(state.tickTimer);
  state.pollTimer = null;
  state.tickTimer = null;
}

async function poll() {
  state.pollTimer = null;
  const jobId = state.jobId;
  let job;
  try {
    job = await api("GET", `/jobs/${encodeURIComponent(jobId)}`);
  } catch (error) {
    if (jobId !== state.jobId) return;
    if ((error.kind === "network" || error.kind === "timeout") && ++state.pollFailures <= POLL_NETWORK_RETRIES) {
      schedulePoll();
      return;
    }
    stopWaiting();
    const [key, params] = describeApiError(error);
    failWith(key, params, error.status === 404 ? [restartAction()] : [resumeAction(), restartAction()]);
    return;
  }
  if (jobId !== state.jobId) return; // started over meanwhile
  state.pollFailures = 0;
  state.job = job;
  if (job.status === "done") {
    stopWaiting();
    showResult(job);
    return;
  }
  if (job.status === "failed") {
    stopWaiting();
    const code = job.error?.code || "";
    const key = hasMessage(`err.job.${code}`) ? `err.job.${code}` : "err.job.other";
    // The upload may still be stored after a failure, so deleting it is offered here too.
    failWith(key, { message: job.error?.message || code || "?" }, [restartAction(), deleteAction()]);
    return;
  }
  setStatus(job.status === "processing" ? "status.processing" : "status.awaiting_upload", {
    s: elapsedSeconds(),
  });
  if (Date.now() >= state.deadline) {
    stopWaiting();
    failWith("err.processing_timeout", { s: elapsedSeconds() }, [
      waitAction(),
      restartAction(),
      deleteAction(),
    ]);
    return;
  }
  schedulePoll();
}

function schedulePoll() {
  state.pollTimer = setTimeout(poll, state.config.poll_interval_ms);
}

function failWith(key, params = {}, actions = []) {
  setBusy(false);
  setStatus(null);
  showMessage(key, params, actions);
}

function retryAction() {
  return {
    key: "action.retry",
    run: () => {
      // The half-finished job is removed so it cannot linger; a fresh link is made.
      if (state.jobId) api("DELETE", `/jobs/${encodeURIComponent(state.jobId)}`).catch(() => {});
      state.jobId = null;
      startJob();
    },
  };
}

function resumeAction() {
  return {
    key: "action.retry",
    run: () => {
      clearMessage();
      setBusy(true);
      state.pollFailures = 0;
      state.deadline = Date.now() + state.config.processing_timeout_s * 1000;
      setStatus("status.processing", { s: elapsedSeconds() });
      state.tickTimer = setInterval(renderElapsed, 1000);
      poll();
    },
  };
}

function waitAction() {
  return { ...resumeAction(), key: "action.wait" };
}

function restartAction() {
  return { key: "action.restart", run: () => startOver() };
}

/* ---------- the result ---------- */

function showResult(job) {
  setBusy(false);
  setStatus("status.done");
  state.resultRefreshed = false;
  const result = job.result;
  el.before.src = state.previewUrl || "";
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
  const job = state.job;
  if (!job || job.status !== "done" || el.resultSection.hidden) return;
  const faceOps = (job.ops || []).some((op) => op.endsWith("_faces"));
  const count = job.faces?.count;
  if (faceOps && typeof count === "number") {
    const key = count === 0 ? "result.faces.0" : count === 1 ? "result.faces.1" : "result.faces.n";
    el.facesCount.textContent = t(key, { n: count });
    el.facesCount.hidden = false;
  } else {
    el.facesCount.hidden = true;
  }
  const r = job.result;
  el.resultSize.textContent = r.width
    ? t("result.size", { w: r.width, h: r.height, size: formatSize(state.lang, r.bytes || 0) })
    : "";
}

/** Signed result links are short-lived: re-read the job for a fresh one. */
async function refreshResult() {
  const job = await api("GET", `/jobs/${encodeURIComponent(state.jobId)}`);
  if (job.status !== "done" || !job.result) throw new ApiError("http", 404);
  state.job = job;
  return job.result.url;
}

el.after.addEventListener("error", async () => {
  if (!state.job || el.resultSection.hidden || !el.after.getAttribute("src")) return;
  if (state.resultRefreshed) {
    showMessage("err.result_expired", {}, [reloadResultAction()]);
    return;
  }
  state.resultRefreshed = true;
  try {
    el.after.src = await refreshResult();
  } catch (error) {
    const [key, params] = describeApiError(error);
    showMessage(key, params, error.status === 404 ? [restartAction()] : [reloadResultAction()]);
  }
});
el.after.addEventListener("load", () => {
  if (state.messageView?.key === "err.result_expired") clearMessage();
});

function reloadResultAction() {
  return {
    key: "action.reload_result",
    run: () => {
      clearMessage();
      state.resultRefreshed = false;
      refreshResult()
        .then((url) => {
          el.after.src = url;
        })
        .catch((error) => {
          const [key, params] = describeApiError(error);
          showMessage(key, params, [reloadResultAction()]);
        });
    },
  };
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

async function fetchResultBlob(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new ApiError("http", response.status);
  return response.blob();
}

el.download.addEventListener("click", async () => {
  if (!state.job?.result) return;
  clearMessage();
  let blob;
  try {
    try {
      blob = await fetchResultBlob(state.job.result.url);
    } catch (error) {
      if (error.kind !== "http") throw error;
      blob = await fetchResultBlob(await refreshResult());
    }
  } catch (error) {
    if (error.kind === "http" && error.status !== 404) {
      showMessage("err.result_expired", {}, [reloadResultAction()]);
    } else {
      const [key, params] = error.kind === "http" ? describeApiError(error) : ["err.network", {}];
      showMessage(key, params);
    }
    return;
  }
  const type = state.job.result.content_type || blob.type;
  const stem = (state.file?.name || "photo").replace(/\.[^.]+$/, "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${stem}-gazokako.${EXTENSION_BY_TYPE[type] || "img"}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
});

async function deleteJob() {
  if (!state.jobId) return;
  el.del.disabled = true;
  clearMessage();
  setStatus("deleting");
  try {
    await api("DELETE", `/jobs/${encodeURIComponent(state.jobId)}`);
  } catch (error) {
    // Already gone counts as deleted: the request is idempotent.
    if (!(error.kind === "http" && error.status === 404)) {
      el.del.disabled = false;
      setStatus(null);
      const [key, params] = describeApiError(error);
      showMessage("err.delete_failed", { detail: t(key, params) }, [deleteAction()]);
      return;
    }
  }
  startOver();
  showMessage("deleted", {}, [], true);
}

function deleteAction() {
  return { key: "result.delete", run: () => deleteJob() };
}

el.del.addEventListener("click", () => deleteJob());

el.again.addEventListener("click", () => startOver());

function resetJobView() {
  stopWaiting();
  if (state.xhr) state.xhr.abort();
  state.xhr = null;
  state.job = null;
  state.jobId = null;
  state.progressView = null;
  el.progress.value = 0;
  el.progressSection.hidden = true;
  el.resultSection.hidden = true;
  el.after.removeAttribute("src");
  el.before.removeAttribute("src");
  setStatus(null);
}

function startOver() {
  resetJobView();
  clearMessage();
  clearFile();
  setBusy(false);
  el.fileInput.focus();
}

/* ---------- start ---------- */

for (const button of document.querySelectorAll(".lang-button")) {
  button.addEventListener("click", () => setLanguage(button.dataset.lang, true));
}

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: ${response.status}`);
  const data = await response.json();
  if (typeof data.api_base !== "string" || !data.api_base) throw new Error("config.json: api_base");
  return { ...DEFAULTS, ...data, api_base: data.api_base.replace(/\/+$/, "") };
}

async function main() {
  setLanguage(initialLanguage(), false);
  try {
    state.config = await loadConfig();
  } catch {
    el.fileInput.disabled = true;
    showMessage("err.config");
    return;
  }
  document.body.dataset.ready = "true";
}

main();
