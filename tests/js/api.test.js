// The API client (web/api.js) against a fake fetch and a fake XMLHttpRequest: `node --test tests/js/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, DEFAULTS, createApiClient, loadConfig, parseConfig, putFile } from "../../web/api.js";

const CONFIG = { ...DEFAULTS, api_base: "https://api.example" };

function response(status, body) {
  return {
    status,
    ok: status >= 200 && status < 300,
    json: async () => {
      if (body === undefined) throw new SyntaxError("no JSON");
      return body;
    },
    blob: async () => ({ type: "image/png", body }),
  };
}

function recordingFetch(answer) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return typeof answer === "function" ? answer(url, init) : answer;
  };
  return { calls, fetch };
}

test("createUpload posts JSON to /uploads and returns the body", async () => {
  const { calls, fetch } = recordingFetch(response(201, { id: "abc" }));
  const api = createApiClient(CONFIG, { fetch });
  const body = { filename: "a.jpg", content_type: "image/jpeg", size: 3, ops: ["grayscale"] };
  assert.deepEqual(await api.createUpload(body), { id: "abc" });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "https://api.example/uploads");
  assert.equal(calls[0].init.method, "POST");
  assert.deepEqual(calls[0].init.headers, { "Content-Type": "application/json" });
  assert.deepEqual(JSON.parse(calls[0].init.body), body);
  assert.equal(calls[0].init.cache, "no-store");
});

test("createRevision posts the box set to /jobs/{id}/revisions; 410 arrives as its code", async () => {
  const job = { id: "j1", status: "processing", revision: 1 };
  const { calls, fetch } = recordingFetch(response(202, job));
  const api = createApiClient(CONFIG, { fetch });
  const body = { boxes: [{ x: 1, y: 2, w: 3, h: 4 }] };
  assert.deepEqual(await api.createRevision("j 1", body), job);
  assert.equal(calls[0].url, "https://api.example/jobs/j%201/revisions");
  assert.equal(calls[0].init.method, "POST");
  assert.deepEqual(JSON.parse(calls[0].init.body), body);
  const closed = createApiClient(CONFIG, {
    fetch: recordingFetch(response(410, { error: { code: "review_closed", message: "gone" } })).fetch,
  });
  await assert.rejects(closed.createRevision("j1", body), { kind: "http", status: 410, code: "review_closed" });
});

test("job reads and deletes escape the id and send no body", async () => {
  const { calls, fetch } = recordingFetch(response(204));
  const api = createApiClient(CONFIG, { fetch });
  assert.equal(await api.deleteJob("a/b c"), null);
  assert.equal(calls[0].url, "https://api.example/jobs/a%2Fb%20c");
  assert.equal(calls[0].init.method, "DELETE");
  assert.equal(calls[0].init.body, undefined);
  assert.deepEqual(calls[0].init.headers, {});
});

test("an error answer becomes ApiError http with the API's code and message", async () => {
  const { fetch } = recordingFetch(response(413, { error: { code: "too_large", message: "max 20 MB" } }));
  const api = createApiClient(CONFIG, { fetch });
  await assert.rejects(api.getJob("x"), (error) => {
    assert.ok(error instanceof ApiError);
    assert.deepEqual([error.kind, error.status, error.code, error.message], ["http", 413, "too_large", "max 20 MB"]);
    return true;
  });
});

test("an error answer without JSON still names its status", async () => {
  const { fetch } = recordingFetch(response(502));
  await assert.rejects(createApiClient(CONFIG, { fetch }).getJob("x"), { kind: "http", status: 502, code: "" });
});

test("a failed connection is a network error, an abort a timeout", async () => {
  const refused = createApiClient(CONFIG, { fetch: async () => { throw new TypeError("Failed to fetch"); } });
  await assert.rejects(refused.getJob("x"), { kind: "network" });
  const slow = createApiClient(
    { ...CONFIG, request_timeout_s: 0.01 },
    {
      fetch: (url, init) =>
        new Promise((resolve, reject) => {
          init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    },
  );
  await assert.rejects(slow.getJob("x"), { kind: "timeout" });
});

test("fetchResult returns the blob and refuses an error status", async () => {
  const ok = createApiClient(CONFIG, { fetch: async () => response(200, "bytes") });
  assert.deepEqual(await ok.fetchResult("https://storage/r"), { type: "image/png", body: "bytes" });
  const expired = createApiClient(CONFIG, { fetch: async () => response(400) });
  await assert.rejects(expired.fetchResult("https://storage/r"), { kind: "http", status: 400 });
});

test("parseConfig fills the defaults, trims api_base's slashes and needs api_base", () => {
  assert.deepEqual(parseConfig({ api_base: "https://api.example//", poll_interval_ms: 50 }), {
    ...DEFAULTS,
    api_base: "https://api.example",
    poll_interval_ms: 50,
  });
  assert.throws(() => parseConfig({}), /api_base/);
  assert.throws(() => parseConfig({ api_base: "" }), /api_base/);
  assert.throws(() => parseConfig(null), /api_base/);
});

test("loadConfig reads config.json uncached and refuses a missing one", async () => {
  const { calls, fetch } = recordingFetch(response(200, { api_base: "https://a" }));
  assert.equal((await loadConfig(fetch)).api_base, "https://a");
  assert.deepEqual(calls[0], { url: "config.json", init: { cache: "no-store" } });
  await assert.rejects(loadConfig(async () => response(404)), /404/);
});

/** A fake XMLHttpRequest: records what was sent; the test then plays storage's side. */
class FakeXhr {
  static last = null;
  constructor() {
    this.headers = {};
    this.listeners = {};
    this.upload = { addEventListener: (type, fn) => { this.uploadProgress = fn; } };
    FakeXhr.last = this;
  }
  open(method, url) { Object.assign(this, { method, url }); }
  setRequestHeader(name, value) { this.headers[name] = value; }
  addEventListener(type, fn) { this.listeners[type] = fn; }
  send(body) { this.body = body; }
  abort() { this.listeners.abort?.(); }
  answer(status, text) { Object.assign(this, { status, responseText: text }); this.listeners.load(); }
}

test("putFile sends exactly the signed headers, reports progress and resolves with storage's answer", async () => {
  const progress = [];
  const target = { url: "https://storage/u/1/source", method: "PUT", headers: { "Content-Type": "image/png", "x-goog-content-length-range": "0,3" } };
  const done = putFile(target, "abc", { timeoutMs: 5000, onProgress: (...a) => progress.push(a), XHR: FakeXhr });
  const xhr = FakeXhr.last;
  assert.deepEqual([xhr.method, xhr.url, xhr.headers, xhr.body, xhr.timeout], ["PUT", target.url, target.headers, "abc", 5000]);
  xhr.uploadProgress({ loaded: 1, total: 3, lengthComputable: true });
  xhr.uploadProgress({ loaded: 2, total: 0, lengthComputable: false });
  xhr.answer(400, "<Code>ExpiredToken</Code>");
  assert.deepEqual(await done, { status: 400, body: "<Code>ExpiredToken</Code>" });
  assert.deepEqual(progress, [[1, 3], [2, null]]);
});

test("putFile rejects a lost connection or timeout as network, an abort as aborted", async () => {
  for (const event of ["error", "timeout"]) {
    const done = putFile({ url: "u" }, "x", { XHR: FakeXhr });
    FakeXhr.last.listeners[event]();
    await assert.rejects(done, { kind: "network" });
  }
  const controller = new AbortController();
  const done = putFile({ url: "u" }, "x", { XHR: FakeXhr, signal: controller.signal });
  assert.equal(FakeXhr.last.method, "PUT"); // the default method
  controller.abort();
  await assert.rejects(done, { kind: "aborted" });
});
