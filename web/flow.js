// The job flow: choose a photo → create the job → upload → wait → result or failure, and the
// actions offered on the way. No DOM here: the view, the API client, the upload and the clock
// are handed in, so node's test runner can play every path with fakes.
import { ApiError } from "./api.js";

export const ALLOWED_TYPES = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif"];
// Some systems give a HEIC file no type at all, so its extension names it.
export const TYPE_BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  hif: "image/heif",
  avif: "image/avif",
};
export const EXTENSION_BY_TYPE = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/heic": "heic",
  "image/heif": "heif",
  "image/avif": "avif",
};
export const OUTPUT_FORMATS = ["auto", "jpeg", "png", "webp"];
// A few failed polls in a row are tolerated: a phone briefly losing signal is not an error.
export const POLL_NETWORK_RETRIES = 3;

const browserTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id),
};

export function fileType(file) {
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  // Browsers on some systems label a HEIC "application/octet-stream"; its extension is better.
  if (file.type && file.type !== "application/octet-stream") return file.type;
  return TYPE_BY_EXTENSION[ext] || file.type || "";
}

/** The API's options.format for the page's choice: "auto" keeps a PNG a PNG (transparency)
 * and makes everything else JPEG. */
export function outputFormat(choice, type) {
  if (choice && choice !== "auto" && OUTPUT_FORMATS.includes(choice)) return choice;
  return type === "image/png" ? "png" : "jpeg";
}

/** Maps an API failure to a message key and its parameters. */
export function describeApiError(error, file, formatSize) {
  if (error.kind === "network") return ["err.network", {}];
  if (error.kind === "timeout") return ["err.request_timeout", {}];
  switch (error.status) {
    case 413:
      return ["err.too_large", { name: file?.name ?? "", size: formatSize(file?.size ?? 0) }];
    case 415:
      return ["err.wrong_type", { name: file?.name ?? "" }];
    case 429:
      return ["err.rate_limited", {}];
    case 404:
      return ["err.job_gone", {}];
    case 409:
      return ["err.not_done", {}];
    case 410:
      return ["err.review_closed", {}];
    case 400:
    case 405:
      return ["err.bad_request", { message: error.message || error.code || String(error.status) }];
    default:
      return ["err.server", { status: error.status }];
  }
}

/** The name a downloaded result is saved under: `<stem>-gazokako.<ext>`. */
export function downloadName(fileName, contentType) {
  const stem = (fileName || "photo").replace(/\.[^.]+$/, "");
  return `${stem}-gazokako.${EXTENSION_BY_TYPE[contentType] || "img"}`;
}

/**
 * deps: `view` (the page; see web/view.js for the calls), `makeApi(config)` (an API client),
 * `putFile(target, file, options)` (the storage upload), `hasMessage(key)` (whether a message
 * exists for a job error code), `timers` (now and the timer functions; the browser's by default).
 */
export function createJobFlow({ view, makeApi, putFile, hasMessage, timers = browserTimers }) {
  const state = {
    config: null,
    api: null,
    file: null,
    busy: false,
    job: null, // last job document seen
    jobId: null,
    upload: null, // the AbortController of the upload in flight
    statusKey: null,
    pollTimer: null,
    tickTimer: null,
    pollFailures: 0,
    waitStartedAt: 0,
    deadline: 0,
    resultRefreshed: false,
    revision: 0, // the revision the page waits for or shows (0: the automatic result)
    reviewClosed: false, // the API answered 410: the source is gone, no more revisions
    revising: null, // the body of the revision being applied, for a retry
  };

  const describe = (error) => describeApiError(error, state.file, (bytes) => view.formatSize(bytes));

  function setStatus(key, params = {}) {
    state.statusKey = key;
    view.setStatus(key, params);
  }

  function setBusy(busy) {
    state.busy = busy;
    view.setBusy(busy, Boolean(state.file));
  }

  function setConfig(config) {
    state.config = config;
    state.api = makeApi(config);
  }

  /* ---------- choosing a file ---------- */

  function chooseFile(file) {
    if (!file || state.busy || !state.config) return;
    resetJobView();
    view.clearMessage();
    const type = fileType(file);
    if (!ALLOWED_TYPES.includes(type)) {
      clearFile();
      view.showMessage("err.wrong_type", { name: file.name });
      return;
    }
    if (file.size > state.config.max_bytes) {
      clearFile();
      view.showMessage("err.too_large", { name: file.name, size: view.formatSize(file.size) });
      return;
    }
    if (file.size === 0) {
      clearFile();
      view.showMessage("err.empty", { name: file.name });
      return;
    }
    clearFile();
    state.file = file;
    view.showPreview(file, type);
  }

  function clearFile() {
    state.file = null;
    view.clearPreview();
  }

  /* ---------- the job ---------- */

  async function startJob() {
    if (state.busy || !state.file) return;
    const ops = view.selectedOps();
    if (ops.length === 0) {
      view.showMessage("err.no_op");
      return;
    }
    view.clearMessage();
    resetJobView();
    setBusy(true);
    view.startProgress(state.file.size);
    setStatus("status.creating");
    view.revealProgress();

    let created;
    try {
      created = await state.api.createUpload({
        filename: state.file.name,
        content_type: fileType(state.file),
        size: state.file.size,
        ops,
        options: { format: outputFormat(view.selectedFormat(), fileType(state.file)) },
      });
    } catch (error) {
      // Trying the same request again only helps when the refusal was not about the photo.
      const final = error.kind === "http" && [400, 413, 415].includes(error.status);
      failWith(...describe(error), final ? [] : [retryAction()]);
      return;
    }
    state.jobId = created.id;
    setStatus("status.uploading");
    upload(created.upload);
  }

  function upload(target) {
    const file = state.file;
    const controller = new AbortController();
    state.upload = controller;
    putFile(target, file, {
      timeoutMs: state.config.upload_timeout_s * 1000,
      signal: controller.signal,
      onProgress: (loaded, total) => view.setProgress(loaded, total ?? file.size),
    }).then(
      ({ status, body }) => {
        state.upload = null;
        if (status >= 200 && status < 300) {
          view.setProgress(file.size, file.size);
          startWaiting();
          return;
        }
        // Signed URLs answer 400 ExpiredToken (or 403 with "expired") once past their time.
        if (/expired/i.test(body)) {
          failWith("err.upload_expired", {}, [retryAction()]);
        } else if (status === 413 || /EntityTooLarge/i.test(body)) {
          failWith("err.too_large", { name: file.name, size: view.formatSize(file.size) });
        } else {
          failWith("err.upload_refused", { status }, [retryAction()]);
        }
      },
      (error) => {
        if (error.kind === "aborted") return; // the page moved on (start over, a new photo)
        state.upload = null;
        failWith("err.upload_network", {}, [retryAction()]);
      },
    );
  }

  function startWaiting(statusKey = "status.awaiting_upload") {
    state.waitStartedAt = timers.now();
    state.deadline = state.waitStartedAt + state.config.processing_timeout_s * 1000;
    state.pollFailures = 0;
    setStatus(statusKey, { s: 0 });
    // The elapsed seconds tick on their own so the page visibly stays alive between polls.
    state.tickTimer = timers.setInterval(renderElapsed, 1000);
    poll();
  }

  function elapsedSeconds() {
    return Math.round((timers.now() - state.waitStartedAt) / 1000);
  }

  function renderElapsed() {
    const key = state.statusKey;
    if (key === "status.awaiting_upload" || key === "status.processing") {
      setStatus(key, { s: elapsedSeconds() });
    }
  }

  function stopWaiting() {
    timers.clearTimeout(state.pollTimer);
    timers.clearInterval(state.tickTimer);
    state.pollTimer = null;
    state.tickTimer = null;
  }

  async function poll() {
    state.pollTimer = null;
    const jobId = state.jobId;
    let job;
    try {
      job = await state.api.getJob(jobId);
    } catch (error) {
      if (jobId !== state.jobId) return;
      if ((error.kind === "network" || error.kind === "timeout") && ++state.pollFailures <= POLL_NETWORK_RETRIES) {
        schedulePoll();
        return;
      }
      stopWaiting();
      const [key, params] = describe(error);
      failWith(key, params, error.status === 404 ? [restartAction()] : [resumeAction(), restartAction()]);
      return;
    }
    if (jobId !== state.jobId) return; // started over meanwhile
    state.pollFailures = 0;
    // A result older than the revision asked for is not the answer yet (a read that raced the
    // POST, or a replica behind): keep waiting for the new one.
    // A revision that could not be rendered leaves the previous result, and says so.
    const failedRevision =
      job.status === "done" && state.revision > 0 && (job.revision_error?.revision ?? 0) >= state.revision;
    const stale = job.status === "done" && (job.revision ?? 0) < state.revision && !failedRevision;
    if (!stale) state.job = job;
    if (failedRevision) {
      stopWaiting();
      revisionFailed(job);
      return;
    }
    if (job.status === "done" && !stale) {
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
    setStatus(job.status === "processing" || stale ? "status.processing" : "status.awaiting_upload", {
      s: elapsedSeconds(),
    });
    if (timers.now() >= state.deadline) {
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
    state.pollTimer = timers.setTimeout(poll, state.config.poll_interval_ms);
  }

  function failWith(key, params = {}, actions = []) {
    setBusy(false);
    setStatus(null);
    view.showMessage(key, params, actions);
  }

  function retryAction() {
    return {
      key: "action.retry",
      run: () => {
        // The half-finished job is removed so it cannot linger; a fresh link is made.
        if (state.jobId) state.api.deleteJob(state.jobId).catch(() => {});
        state.jobId = null;
        startJob();
      },
    };
  }

  function resumeAction() {
    return {
      key: "action.retry",
      run: () => {
        view.clearMessage();
        setBusy(true);
        state.pollFailures = 0;
        state.deadline = timers.now() + state.config.processing_timeout_s * 1000;
        setStatus("status.processing", { s: elapsedSeconds() });
        state.tickTimer = timers.setInterval(renderElapsed, 1000);
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

  /* ---------- a revision (the "check the faces" review) ---------- */

  /**
   * Asks the API to render the result again hiding exactly `body.boxes` (web/review.js builds
   * the body), then waits for it like the first result. The same body sent again is the same
   * revision to the API, so a retry after a lost answer is safe.
   */
  async function applyRevision(body) {
    if (state.busy || !state.jobId || !state.job || state.reviewClosed) return;
    view.clearMessage();
    setBusy(true);
    state.revising = body;
    view.setReviewBusy(true);
    setStatus("status.revising");
    const jobId = state.jobId;
    let job;
    try {
      job = await state.api.createRevision(jobId, body);
    } catch (error) {
      if (jobId !== state.jobId) return;
      setBusy(false);
      setStatus(null);
      view.setReviewBusy(false);
      if (error.kind === "http" && error.status === 410) {
        state.reviewClosed = true;
        view.closeReview();
        view.showMessage("err.review_closed", {}, [backToResultAction()]);
        return;
      }
      const [key, params] = describe(error);
      const again = error.kind !== "http" || [429, 503].includes(error.status) || error.status >= 500;
      view.showMessage(key, params, again ? [reviseAgainAction(body)] : []);
      return;
    }
    if (jobId !== state.jobId) return;
    state.revision = Number.isInteger(job?.revision) ? job.revision : state.revision + 1;
    view.showRevising();
    if (job?.status === "done" && (job.revision ?? 0) >= state.revision) {
      // The same set as the result already on screen: the API answered with it at once.
      state.job = job;
      showResult(job);
      return;
    }
    startWaiting("status.processing");
  }

  function revisionFailed(job) {
    const body = state.revising;
    const { code = "", message = "" } = job.revision_error;
    if (code === "review_closed") state.reviewClosed = true;
    showResult(job);
    if (code === "review_closed") {
      view.closeReview();
      view.showMessage("err.review_closed");
    } else {
      view.showMessage("err.revision_failed", { message: message || code }, body ? [reviseAgainAction(body)] : []);
    }
  }

  function reviseAgainAction(body) {
    return { key: "action.retry", run: () => applyRevision(body) };
  }

  function backToResultAction() {
    return {
      key: "review.cancel",
      run: () => {
        view.clearMessage();
        view.hideReview();
      },
    };
  }

  /* ---------- the result ---------- */

  function showResult(job) {
    setBusy(false);
    setStatus("status.done");
    state.resultRefreshed = false;
    state.revising = null;
    view.setReviewBusy(false);
    view.showResult(job, { reviewClosed: state.reviewClosed });
  }

  /** Signed result links are short-lived: re-read the job for a fresh one. */
  async function refreshResult() {
    const job = await state.api.getJob(state.jobId);
    if (job.status !== "done" || !job.result) throw new ApiError("http", 404);
    state.job = job;
    view.updateResult(job);
    return job.result.url;
  }

  /** The result picture failed to load (the view calls this only while it is shown). */
  async function resultImageFailed() {
    if (!state.job) return;
    if (state.resultRefreshed) {
      view.showMessage("err.result_expired", {}, [reloadResultAction()]);
      return;
    }
    state.resultRefreshed = true;
    try {
      view.setResultUrl(await refreshResult());
    } catch (error) {
      const [key, params] = describe(error);
      view.showMessage(key, params, error.status === 404 ? [restartAction()] : [reloadResultAction()]);
    }
  }

  function reloadResultAction() {
    return {
      key: "action.reload_result",
      run: () => {
        view.clearMessage();
        state.resultRefreshed = false;
        refreshResult()
          .then((url) => view.setResultUrl(url))
          .catch((error) => {
            const [key, params] = describe(error);
            view.showMessage(key, params, [reloadResultAction()]);
          });
      },
    };
  }

  async function download() {
    if (!state.job?.result) return;
    view.clearMessage();
    let blob;
    try {
      try {
        blob = await state.api.fetchResult(state.job.result.url);
      } catch (error) {
        if (error.kind !== "http") throw error;
        blob = await state.api.fetchResult(await refreshResult());
      }
    } catch (error) {
      if (error.kind === "http" && error.status !== 404) {
        view.showMessage("err.result_expired", {}, [reloadResultAction()]);
      } else {
        const [key, params] = error.kind === "http" ? describe(error) : ["err.network", {}];
        view.showMessage(key, params);
      }
      return;
    }
    const type = state.job.result.content_type || blob.type;
    view.saveBlob(blob, downloadName(state.file?.name, type));
  }

  async function deleteJob() {
    if (!state.jobId) return;
    view.setDeleteDisabled(true);
    view.clearMessage();
    setStatus("deleting");
    try {
      await state.api.deleteJob(state.jobId);
    } catch (error) {
      // Already gone counts as deleted: the request is idempotent.
      if (!(error.kind === "http" && error.status === 404)) {
        view.setDeleteDisabled(false);
        setStatus(null);
        const [key, params] = describe(error);
        view.showMessage("err.delete_failed", { detail: view.t(key, params) }, [deleteAction()]);
        return;
      }
    }
    startOver();
    // An honest empty state where the photo was, not a picture whose link no longer works.
    view.showDeleted();
    view.showMessage("deleted", {}, [], true);
  }

  function deleteAction() {
    return { key: "result.delete", run: () => deleteJob() };
  }

  function resetJobView() {
    stopWaiting();
    if (state.upload) state.upload.abort();
    state.upload = null;
    state.job = null;
    state.jobId = null;
    state.revision = 0;
    state.reviewClosed = false;
    state.revising = null;
    view.resetJob();
    setStatus(null);
  }

  function startOver() {
    resetJobView();
    view.clearMessage();
    clearFile();
    setBusy(false);
    view.focusFileInput();
  }

  return {
    state,
    setConfig,
    chooseFile,
    startJob,
    applyRevision,
    resultImageFailed,
    download,
    deleteJob,
    startOver,
  };
}
