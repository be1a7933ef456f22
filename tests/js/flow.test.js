// The job flow (web/flow.js) with a fake view, API, upload and clock: `node --test tests/js/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, DEFAULTS } from "../../web/api.js";
import { createJobFlow, describeApiError, downloadName, fileType, outputFormat } from "../../web/flow.js";
import { hasMessage } from "../../web/i18n.js";

const CONFIG = { ...DEFAULTS, api_base: "https://api.example", max_bytes: 1000 };
const PHOTO = { name: "me.jpg", type: "image/jpeg", size: 300 };
const CREATED = { id: "job1", upload: { url: "https://storage/u/job1/source", method: "PUT", headers: {} } };

/** A clock whose timers run only when the test advances it. */
function fakeTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map(); // id -> {at, fn, every}
  return {
    now: () => now,
    setTimeout: (fn, ms) => (pending.set(next, { at: now + ms, fn }), next++),
    setInterval: (fn, ms) => (pending.set(next, { at: now + ms, fn, every: ms }), next++),
    clearTimeout: (id) => pending.delete(id),
    clearInterval: (id) => pending.delete(id),
    pending: () => pending.size,
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...pending].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const [id, timer] = due;
        now = timer.at;
        if (timer.every) timer.at += timer.every;
        else pending.delete(id);
        timer.fn();
        await settle();
      }
      now = until;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Records what the flow asks of the page; `message` is the one on screen. */
function fakeView(ops = ["mosaic_faces"], format = "auto") {
  const calls = [];
  const view = {
    calls,
    message: null,
    status: null,
    progress: null,
    result: null,
    busy: false,
    formatSize: (bytes) => `${bytes} B`,
    t: (key, params) => `${key}${JSON.stringify(params ?? {})}`,
    selectedOps: () => ops,
    selectedFormat: () => format,
  };
  const record = (name, fn = () => {}) => (...args) => {
    calls.push([name, ...args]);
    fn(...args);
  };
  Object.assign(view, {
    setStatus: record("setStatus", (key, params) => { view.status = key ? { key, params } : null; }),
    showMessage: record("showMessage", (key, params = {}, actions = [], ok = false) => {
      view.message = { key, params, actions: actions.map((a) => a.key), run: Object.fromEntries(actions.map((a) => [a.key, a.run])), ok };
    }),
    clearMessage: record("clearMessage", () => { view.message = null; }),
    setBusy: record("setBusy", (busy) => { view.busy = busy; }),
    startProgress: record("startProgress"),
    revealProgress: record("revealProgress"),
    setProgress: record("setProgress", (loaded, total) => { view.progress = [loaded, total]; }),
    showPreview: record("showPreview"),
    clearPreview: record("clearPreview"),
    showResult: record("showResult", (job) => { view.result = job; }),
    updateResult: record("updateResult"),
    setResultUrl: record("setResultUrl"),
    setDeleteDisabled: record("setDeleteDisabled"),
    saveBlob: record("saveBlob"),
    resetJob: record("resetJob", () => { view.result = null; }),
    focusFileInput: record("focusFileInput"),
    showDeleted: record("showDeleted"),
    setReviewBusy: record("setReviewBusy"),
    showRevising: record("showRevising"),
    closeReview: record("closeReview"),
    hideReview: record("hideReview"),
  });
  return view;
}

/** An API whose answers the test queues per call kind; every call is recorded. */
function fakeApi() {
  const queues = { createUpload: [], getJob: [], deleteJob: [], fetchResult: [], createRevision: [] };
  const calls = [];
  const api = { calls, queue: (kind, ...answers) => queues[kind].push(...answers) };
  for (const kind of Object.keys(queues)) {
    api[kind] = async (arg, body) => {
      calls.push(body === undefined ? [kind, arg] : [kind, arg, body]);
      const answer = queues[kind].shift();
      if (answer === undefined) throw new Error(`unexpected ${kind}`);
      if (answer instanceof Error) throw answer;
      return answer;
    };
  }
  return api;
}

/** The storage upload: each call waits until the test answers it. */
function fakePut() {
  const uploads = [];
  const putFile = (target, file, options) =>
    new Promise((resolve, reject) => {
      const upload = { target, file, options, resolve, reject };
      options.signal.addEventListener("abort", () => reject(new ApiError("aborted")));
      uploads.push(upload);
    });
  return { uploads, putFile };
}

function setup({ ops, format } = {}) {
  const view = fakeView(ops, format);
  const api = fakeApi();
  const put = fakePut();
  const timers = fakeTimers();
  const flow = createJobFlow({ view, makeApi: () => api, putFile: put.putFile, hasMessage, timers });
  flow.setConfig(CONFIG);
  return { flow, view, api, put, timers };
}

async function uploaded({ flow, api, put }) {
  api.queue("createUpload", CREATED);
  flow.chooseFile(PHOTO);
  flow.startJob();
  await settle();
  put.uploads.at(-1).resolve({ status: 200, body: "" });
}

test("file types come from the MIME type, else the extension", () => {
  assert.equal(fileType({ name: "a.PNG", type: "" }), "image/png");
  assert.equal(fileType({ name: "IMG_0001.HEIC", type: "" }), "image/heic");
  assert.equal(fileType({ name: "IMG_0001.heic", type: "application/octet-stream" }), "image/heic");
  assert.equal(fileType({ name: "a.avif", type: "image/avif" }), "image/avif");
  assert.equal(fileType({ name: "a.hif", type: "" }), "image/heif");
  assert.equal(fileType({ name: "a.bin", type: "image/webp" }), "image/webp");
  assert.equal(fileType({ name: "noext", type: "" }), "");
});

test("the page refuses a wrong type, a too large and an empty file before any request", () => {
  const { flow, view, api } = setup();
  flow.chooseFile({ name: "a.gif", type: "image/gif", size: 10 });
  assert.equal(view.message.key, "err.wrong_type");
  flow.chooseFile({ name: "big.jpg", type: "image/jpeg", size: 1001 });
  assert.deepEqual(view.message.params, { name: "big.jpg", size: "1001 B" });
  flow.chooseFile({ name: "e.jpg", type: "image/jpeg", size: 0 });
  assert.equal(view.message.key, "err.empty");
  assert.equal(flow.state.file, null);
  assert.deepEqual(api.calls, []);
  flow.chooseFile(PHOTO);
  assert.equal(flow.state.file, PHOTO);
  assert.deepEqual(view.calls.at(-1), ["showPreview", PHOTO, "image/jpeg"]);
});

test("nothing is chosen before config.json is loaded", () => {
  const view = fakeView();
  const flow = createJobFlow({ view, makeApi: fakeApi, putFile: fakePut().putFile, hasMessage, timers: fakeTimers() });
  flow.chooseFile(PHOTO);
  assert.equal(flow.state.file, null);
  assert.deepEqual(view.calls, []);
});

test("the happy path: create, upload with progress, poll until done, show the result", async () => {
  const s = setup({ ops: ["grayscale", "blur_faces"] });
  const { flow, view, api, put, timers } = s;
  api.queue("createUpload", CREATED);
  flow.chooseFile(PHOTO);
  flow.startJob();
  assert.equal(view.status.key, "status.creating");
  assert.equal(view.busy, true);
  await settle();
  assert.deepEqual(api.calls[0], ["createUpload", { filename: "me.jpg", content_type: "image/jpeg", size: 300, ops: ["grayscale", "blur_faces"], options: { format: "jpeg" } }]);
  assert.equal(view.status.key, "status.uploading");
  const upload = put.uploads[0];
  assert.deepEqual([upload.target, upload.file, upload.options.timeoutMs], [CREATED.upload, PHOTO, 300_000]);
  upload.options.onProgress(100, null); // no total: the file's size stands in
  assert.deepEqual(view.progress, [100, 300]);

  api.queue("getJob", { id: "job1", status: "awaiting_upload" }, { id: "job1", status: "processing" });
  upload.resolve({ status: 200, body: "" });
  await settle();
  assert.deepEqual(view.progress, [300, 300]);
  assert.equal(view.status.key, "status.awaiting_upload");
  await timers.advance(1000);
  assert.deepEqual(view.status, { key: "status.processing", params: { s: 1 } });

  const done = { id: "job1", status: "done", ops: ["blur_faces"], result: { url: "https://storage/r" } };
  api.queue("getJob", done);
  await timers.advance(1000);
  assert.equal(view.status.key, "status.done");
  assert.equal(view.result, done);
  assert.equal(view.busy, false);
  assert.equal(timers.pending(), 0); // no poll and no ticking left behind
  assert.deepEqual(api.calls.map(([kind]) => kind), ["createUpload", "getJob", "getJob", "getJob"]);
});

test("a refusal about the photo offers no retry; a server error offers one that makes a new link", async () => {
  const { flow, view, api, put } = setup();
  api.queue("createUpload", new ApiError("http", 413, "too_large"));
  flow.chooseFile(PHOTO);
  flow.startJob();
  await settle();
  assert.deepEqual([view.message.key, view.message.actions], ["err.too_large", []]);
  assert.deepEqual(view.message.params, { name: "me.jpg", size: "300 B" });

  api.queue("createUpload", new ApiError("http", 503, "unavailable"));
  flow.startJob();
  await settle();
  assert.deepEqual([view.message.key, view.message.actions], ["err.server", ["action.retry"]]);
  api.queue("createUpload", CREATED);
  view.message.run["action.retry"]();
  await settle();
  assert.equal(put.uploads.length, 1);
});

test("an expired upload link is explained, and retrying deletes the abandoned job", async () => {
  const { flow, view, api, put } = setup();
  api.queue("createUpload", CREATED);
  flow.chooseFile(PHOTO);
  flow.startJob();
  await settle();
  put.uploads[0].resolve({ status: 400, body: "<Error><Code>ExpiredToken</Code></Error>" });
  await settle();
  assert.deepEqual([view.message.key, view.message.actions], ["err.upload_expired", ["action.retry"]]);
  api.queue("deleteJob", null);
  api.queue("createUpload", { ...CREATED, id: "job2" });
  view.message.run["action.retry"]();
  await settle();
  assert.deepEqual(api.calls.slice(1), [["deleteJob", "job1"], ["createUpload", api.calls[2][1]]]);
  assert.equal(put.uploads.length, 2);
  assert.equal(flow.state.jobId, "job2");
});

test("storage refusals: 413 is too large, others name the status, a lost connection is a network error", async () => {
  for (const [answer, key] of [
    [{ status: 413, body: "" }, "err.too_large"],
    [{ status: 400, body: "<Code>EntityTooLarge</Code>" }, "err.too_large"],
    [{ status: 403, body: "SignatureDoesNotMatch" }, "err.upload_refused"],
    [new ApiError("network"), "err.upload_network"],
  ]) {
    const { flow, view, api, put } = setup();
    api.queue("createUpload", CREATED);
    flow.chooseFile(PHOTO);
    flow.startJob();
    await settle();
    if (answer instanceof Error) put.uploads[0].reject(answer);
    else put.uploads[0].resolve(answer);
    await settle();
    assert.equal(view.message.key, key);
    assert.equal(view.busy, false);
  }
});

test("starting over aborts the upload in flight and nothing more happens", async () => {
  const { flow, view, api, put } = setup();
  api.queue("createUpload", CREATED);
  flow.chooseFile(PHOTO);
  flow.startJob();
  await settle();
  flow.startOver();
  await settle();
  assert.equal(put.uploads[0].options.signal.aborted, true);
  assert.equal(view.message, null);
  assert.equal(flow.state.file, null);
  assert.deepEqual(view.calls.at(-1), ["focusFileInput"]);
});

test("three failed polls in a row are tolerated, the fourth offers resume and restart", async () => {
  const s = setup();
  const { view, api, timers } = s;
  api.queue("getJob", new ApiError("network"), new ApiError("timeout"), new ApiError("network"));
  await uploaded(s);
  await settle();
  await timers.advance(2000);
  assert.equal(view.message, null);
  api.queue("getJob", new ApiError("network"));
  await timers.advance(1000);
  assert.deepEqual([view.message.key, view.message.actions], ["err.network", ["action.retry", "action.restart"]]);
  assert.equal(timers.pending(), 0);

  api.queue("getJob", { id: "job1", status: "done", result: { url: "u" } });
  view.message.run["action.retry"]();
  await settle();
  assert.equal(view.status.key, "status.done");
});

test("a failed job shows its code's message with restart and delete; an unknown code the server's words", async () => {
  for (const [error, key, message] of [
    [{ code: "not_an_image", message: "nope" }, "err.job.not_an_image", "nope"],
    [{ code: "brand_new_code", message: "why" }, "err.job.other", "why"],
  ]) {
    const s = setup();
    s.api.queue("getJob", { id: "job1", status: "failed", error });
    await uploaded(s);
    await settle();
    assert.deepEqual([s.view.message.key, s.view.message.params, s.view.message.actions], [key, { message }, ["action.restart", "result.delete"]]);
  }
});

test("past the processing timeout the page offers to keep waiting, restart or delete", async () => {
  const s = setup();
  const { view, api, timers } = s;
  const processing = { id: "job1", status: "processing" };
  api.queue("getJob", ...Array(121).fill(processing));
  await uploaded(s);
  await settle();
  await timers.advance(120_000);
  assert.deepEqual([view.message.key, view.message.actions], ["err.processing_timeout", ["action.wait", "action.restart", "result.delete"]]);
  assert.equal(timers.pending(), 0);
  api.queue("getJob", { id: "job1", status: "done", result: { url: "u" } });
  view.message.run["action.wait"]();
  await settle();
  assert.equal(view.status.key, "status.done");
});

test("a job deleted meanwhile (404 while polling) offers only a restart", async () => {
  const s = setup();
  s.api.queue("getJob", new ApiError("http", 404, "not_found"));
  await uploaded(s);
  await settle();
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.job_gone", ["action.restart"]]);
});

test("an expired result link is renewed once by reading the job again, then explained", async () => {
  const s = setup();
  const done = { id: "job1", status: "done", result: { url: "old" } };
  s.api.queue("getJob", done, { ...done, result: { url: "fresh" } });
  await uploaded(s);
  await settle();
  await s.flow.resultImageFailed();
  assert.deepEqual(s.view.calls.filter(([n]) => n === "setResultUrl"), [["setResultUrl", "fresh"]]);
  await s.flow.resultImageFailed();
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.result_expired", ["action.reload_result"]]);
});

test("download saves <name>-gazokako.<ext>, renewing an expired link first", async () => {
  const s = setup();
  const done = { id: "job1", status: "done", result: { url: "old", content_type: "image/webp" } };
  s.api.queue("getJob", done, { ...done, result: { url: "fresh", content_type: "image/webp" } });
  await uploaded(s);
  await settle();
  const blob = { type: "image/webp" };
  s.api.queue("fetchResult", new ApiError("http", 400), blob);
  await s.flow.download();
  assert.deepEqual(s.api.calls.filter(([k]) => k === "fetchResult"), [["fetchResult", "old"], ["fetchResult", "fresh"]]);
  assert.deepEqual(s.view.calls.at(-1), ["saveBlob", blob, "me-gazokako.webp"]);
  assert.equal(downloadName("", "image/gif"), "photo-gazokako.img");
});

test("delete: a 404 counts as deleted; another failure keeps the job and offers to try again", async () => {
  const s = setup();
  s.api.queue("getJob", { id: "job1", status: "done", result: { url: "u" } });
  await uploaded(s);
  await settle();
  s.api.queue("deleteJob", new ApiError("http", 503));
  await s.flow.deleteJob();
  assert.equal(s.view.message.key, "err.delete_failed");
  assert.deepEqual(s.view.message.params, { detail: 'err.server{"status":503}' });
  assert.equal(s.flow.state.jobId, "job1");
  s.api.queue("deleteJob", new ApiError("http", 404));
  await s.flow.deleteJob();
  assert.deepEqual([s.view.message.key, s.view.message.ok], ["deleted", true]);
  assert.equal(s.flow.state.jobId, null);
  assert.equal(s.flow.state.file, null);
});

test("describeApiError maps each failure to its message", () => {
  const size = (b) => `${b} B`;
  assert.deepEqual(describeApiError(new ApiError("timeout"), null, size), ["err.request_timeout", {}]);
  assert.deepEqual(describeApiError(new ApiError("http", 429), null, size), ["err.rate_limited", {}]);
  assert.deepEqual(describeApiError(new ApiError("http", 415), PHOTO, size), ["err.wrong_type", { name: "me.jpg" }]);
  assert.deepEqual(describeApiError(new ApiError("http", 400, "invalid_ops", "ops: a list"), null, size), ["err.bad_request", { message: "ops: a list" }]);
  assert.deepEqual(describeApiError(new ApiError("http", 500), null, size), ["err.server", { status: 500 }]);
});

test("the result format: automatic keeps PNG a PNG and makes the rest JPEG; a choice wins", () => {
  assert.equal(outputFormat("auto", "image/png"), "png");
  for (const type of ["image/jpeg", "image/webp", "image/heic", "image/heif", "image/avif", ""]) {
    assert.equal(outputFormat("auto", type), "jpeg");
  }
  assert.equal(outputFormat("webp", "image/png"), "webp");
  assert.equal(outputFormat("jpeg", "image/png"), "jpeg");
  assert.equal(outputFormat("png", "image/heic"), "png");
  assert.equal(outputFormat("gif", "image/png"), "png"); // an unknown choice falls back to automatic
});

test("HEIC and AVIF photos are accepted and sent with their type and the chosen format", async () => {
  for (const [file, format, expected] of [
    [{ name: "IMG_0001.HEIC", type: "", size: 300 }, "auto", ["image/heic", "jpeg"]],
    [{ name: "a.avif", type: "image/avif", size: 300 }, "webp", ["image/avif", "webp"]],
    [{ name: "logo.png", type: "image/png", size: 300 }, "auto", ["image/png", "png"]],
  ]) {
    const { flow, view, api } = setup({ format });
    api.queue("createUpload", CREATED);
    flow.chooseFile(file);
    assert.equal(view.message, null);
    assert.deepEqual(view.calls.at(-1), ["showPreview", file, expected[0]]);
    flow.startJob();
    await settle();
    const body = api.calls[0][1];
    assert.deepEqual([body.content_type, body.options], [expected[0], { format: expected[1] }]);
  }
});

test("after a delete the page shows an empty state, not the deleted picture", async () => {
  const ctx = setup();
  const { flow, view, api } = ctx;
  api.queue("getJob", { id: "job1", status: "done", ops: ["mosaic_faces"], result: { url: "https://r" } });
  await uploaded(ctx);
  await settle();
  assert.ok(view.result);
  api.queue("deleteJob", null);
  await flow.deleteJob();
  const names = view.calls.map(([name]) => name);
  assert.ok(names.lastIndexOf("showDeleted") > names.lastIndexOf("clearPreview"));
  assert.equal(view.message.key, "deleted");
  assert.equal(view.result, null);
});

/* ---------- the review: a revision of the result ---------- */

const FACES_DONE = {
  id: "job1",
  status: "done",
  ops: ["mosaic_faces"],
  revision: 0,
  review_until: "2026-11-29T14:05:00Z",
  result: { url: "https://storage/r0" },
  faces: { count: 1, boxes: [{ x: 1, y: 2, w: 30, h: 30 }] },
};
const BODY = { boxes: [{ x: 1, y: 2, w: 30, h: 30 }, { x: 50, y: 60, w: 20, h: 20 }] };

async function finished() {
  const s = setup();
  s.api.queue("getJob", FACES_DONE);
  await uploaded(s);
  await settle();
  assert.equal(s.view.result, FACES_DONE);
  return s;
}

test("a revision is posted, waited for like the first result (a stale result does not count), then shown", async () => {
  const s = await finished();
  const { flow, view, api, timers } = s;
  const accepted = { ...FACES_DONE, status: "processing", revision: 1 };
  delete accepted.result;
  api.queue("createRevision", accepted);
  flow.applyRevision(BODY);
  assert.equal(view.busy, true);
  assert.equal(view.status.key, "status.revising");
  assert.deepEqual(view.calls.filter(([n]) => n === "setReviewBusy").at(-1), ["setReviewBusy", true]);
  // The first poll still sees the old result (a read that raced the POST): keep waiting.
  const revised = { ...FACES_DONE, revision: 1, result: { url: "https://storage/r1" }, faces: { count: 2, boxes: BODY.boxes, reviewed: true } };
  api.queue("getJob", FACES_DONE, revised);
  // A second Apply while the first is on its way sends nothing.
  flow.applyRevision(BODY);
  await settle();
  assert.deepEqual(api.calls.filter(([k]) => k === "createRevision"), [["createRevision", "job1", BODY]]);
  assert.ok(view.calls.some(([n]) => n === "showRevising"));
  assert.equal(view.status.key, "status.processing");
  assert.equal(view.result, FACES_DONE);
  await timers.advance(1000);
  assert.equal(view.status.key, "status.done");
  assert.equal(view.result, revised);
  assert.equal(flow.state.job, revised);
  assert.deepEqual(view.calls.at(-1), ["showResult", revised, { reviewClosed: false }]);
  assert.equal(view.busy, false);
  assert.equal(timers.pending(), 0);
});

test("the same set again: the API answers the same revision, done, and the page shows it at once", async () => {
  const s = await finished();
  const revised = { ...FACES_DONE, revision: 1, faces: { count: 2, boxes: BODY.boxes, reviewed: true } };
  s.api.queue("createRevision", revised);
  await s.flow.applyRevision(BODY);
  assert.equal(s.view.result, revised);
  assert.equal(s.view.status.key, "status.done");
  assert.equal(s.api.calls.filter(([k]) => k === "getJob").length, 1); // the first result's only
  assert.equal(s.timers.pending(), 0);
});

test("410 review_closed closes the review for good; 409 and 400 explain without a retry", async () => {
  const s = await finished();
  s.api.queue("createRevision", new ApiError("http", 409, "not_done", "not done"));
  await s.flow.applyRevision(BODY);
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.not_done", []]);
  assert.equal(s.view.busy, false);
  assert.deepEqual(s.view.calls.filter(([n]) => n === "setReviewBusy").at(-1), ["setReviewBusy", false]);
  s.api.queue("createRevision", new ApiError("http", 400, "invalid_request", "boxes[0]: outside the image"));
  await s.flow.applyRevision(BODY);
  assert.deepEqual(s.view.message.params, { message: "boxes[0]: outside the image" });

  s.api.queue("createRevision", new ApiError("http", 410, "review_closed", "gone"));
  await s.flow.applyRevision(BODY);
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.review_closed", ["review.cancel"]]);
  assert.ok(s.view.calls.some(([n]) => n === "closeReview"));
  assert.equal(s.flow.state.reviewClosed, true);
  s.view.message.run["review.cancel"]();
  assert.equal(s.view.message, null);
  assert.deepEqual(s.view.calls.at(-1), ["hideReview"]);
  // Nothing more is sent once the window is closed.
  await s.flow.applyRevision(BODY);
  assert.equal(s.api.calls.filter(([k]) => k === "createRevision").length, 3);
  // A new photo starts with a review of its own.
  s.flow.startOver();
  assert.equal(s.flow.state.reviewClosed, false);
});

test("a lost answer is retried with the same body, which the API counts as the same revision", async () => {
  const s = await finished();
  s.api.queue("createRevision", new ApiError("network"));
  await s.flow.applyRevision(BODY);
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.network", ["action.retry"]]);
  s.api.queue("createRevision", new ApiError("http", 429, "rate_limited", "slow"));
  s.view.message.run["action.retry"]();
  await settle();
  assert.deepEqual([s.view.message.key, s.view.message.actions], ["err.rate_limited", ["action.retry"]]);
  const revised = { ...FACES_DONE, revision: 1, faces: { count: 2, boxes: BODY.boxes, reviewed: true } };
  s.api.queue("createRevision", { ...revised, status: "processing" });
  s.api.queue("getJob", revised);
  s.view.message.run["action.retry"]();
  await settle();
  await s.timers.advance(1000);
  assert.equal(s.view.result, revised);
  const sent = s.api.calls.filter(([k]) => k === "createRevision").map(([, , body]) => body);
  assert.deepEqual(sent, [BODY, BODY, BODY]);
});

test("a revision that could not be rendered shows the previous result and offers to try again", async () => {
  const s = await finished();
  s.api.queue("createRevision", { ...FACES_DONE, status: "processing", revision: 1 });
  const failed = { ...FACES_DONE, revision: 0, revision_error: { revision: 1, code: "corrupt", message: "bad bytes" } };
  s.api.queue("getJob", { ...FACES_DONE, status: "processing", revision: 1 }, failed);
  await s.flow.applyRevision(BODY);
  await s.timers.advance(1000);
  assert.equal(s.view.result, failed); // the previous result, still on screen
  assert.equal(s.view.busy, false);
  assert.equal(s.timers.pending(), 0);
  assert.deepEqual([s.view.message.key, s.view.message.params, s.view.message.actions], ["err.revision_failed", { message: "bad bytes" }, ["action.retry"]]);
  s.api.queue("createRevision", { ...FACES_DONE, status: "processing", revision: 2 });
  s.api.queue("getJob", { ...FACES_DONE, revision: 2, faces: { count: 2, boxes: BODY.boxes, reviewed: true } });
  s.view.message.run["action.retry"]();
  await settle();
  await s.timers.advance(1000);
  assert.equal(s.view.result.revision, 2);
  assert.deepEqual(s.api.calls.filter(([k]) => k === "createRevision").map(([, , b]) => b), [BODY, BODY]);

  // The source gone while rendering (review_closed): the review closes for good.
  s.api.queue("createRevision", { ...FACES_DONE, status: "processing", revision: 3 });
  s.api.queue("getJob", { ...FACES_DONE, revision: 2, revision_error: { revision: 3, code: "review_closed", message: "gone" } });
  await s.flow.applyRevision({ boxes: [] });
  await s.timers.advance(1000);
  assert.equal(s.flow.state.reviewClosed, true);
  assert.deepEqual(s.view.calls.filter(([n]) => n === "showResult").at(-1)[2], { reviewClosed: true });
  assert.equal(s.view.message.key, "err.review_closed");
  assert.ok(s.view.calls.some(([n]) => n === "closeReview"));
});

test("describeApiError: 409 is not done yet, 410 is a closed review", () => {
  const size = (b) => `${b} B`;
  assert.deepEqual(describeApiError(new ApiError("http", 409), null, size), ["err.not_done", {}]);
  assert.deepEqual(describeApiError(new ApiError("http", 410), null, size), ["err.review_closed", {}]);
});
