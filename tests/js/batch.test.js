// Many photos at once (web/batch.js) and the ZIP writer (web/zip.js): `node --test tests/js/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, DEFAULTS } from "../../web/api.js";
import { BATCH_CONCURRENCY, createBatch, retryDelayMs } from "../../web/batch.js";
import { hasMessage } from "../../web/i18n.js";
import { crc32, makeZip, uniqueNames } from "../../web/zip.js";

const CONFIG = { ...DEFAULTS, api_base: "https://api.example", max_bytes: 1000 };
const settle = () => new Promise((resolve) => setImmediate(resolve));

function photo(name, type = "image/jpeg", size = 100) {
  return { name, type, size, arrayBuffer: async () => new ArrayBuffer(size) };
}

/** An API that answers every job "done" with one face on its first poll; calls are recorded. */
function fakeWorld({ refuse = [] } = {}) {
  const calls = [];
  const sleeps = [];
  let next = 0;
  let open = 0;
  let maxOpen = 0;
  const uploads = [];
  const api = {
    async createUpload(body) {
      calls.push(["createUpload", body]);
      const refusal = refuse.shift();
      if (refusal) throw refusal;
      return { id: `job${++next}`, upload: { url: `u/${next}`, method: "PUT", headers: {} } };
    },
    async getJob(id) {
      calls.push(["getJob", id]);
      return { id, status: "done", faces: { count: 1 }, result: { url: `r/${id}`, content_type: "image/jpeg" } };
    },
    async deleteJob(id) {
      calls.push(["deleteJob", id]);
      return null;
    },
    async fetchResult(url) {
      const bytes = new TextEncoder().encode(`bytes of ${url}`);
      return { arrayBuffer: async () => bytes.buffer };
    },
  };
  const putFile = (target, file, options) =>
    new Promise((resolve) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      options.onProgress(file.size / 2, file.size);
      uploads.push(() => {
        open--;
        resolve({ status: 200, body: "" });
      });
    });
  const timers = { now: () => 0, sleep: async (ms) => { sleeps.push(ms); } };
  return { api, putFile, timers, calls, sleeps, uploads, maxOpen: () => maxOpen };
}

function batchOf(world, files) {
  const changes = [];
  const batch = createBatch({
    api: world.api,
    putFile: world.putFile,
    config: CONFIG,
    hasMessage,
    formatSize: (n) => `${n} B`,
    onChange: (items) => changes.push(items.map((i) => i.status)),
    timers: world.timers,
  });
  batch.add(files);
  return { batch, changes };
}

async function finishUploads(world) {
  for (let i = 0; i < 50; i++) {
    await settle();
    const next = world.uploads.shift();
    if (!next) {
      if (i > 5) return;
      continue;
    }
    next();
  }
}

test("each file is its own job, a few at a time; a bad file fails alone with its reason", async () => {
  const world = fakeWorld();
  const files = [
    photo("a.jpg"),
    photo("b.heic", ""),
    photo("c.avif", "image/avif"),
    photo("notes.txt", "text/plain"),
    photo("d.png", "image/png"),
    photo("e.webp", "image/webp"),
  ];
  const { batch } = batchOf(world, files);
  assert.equal(batch.items[3].status, "failed");
  assert.equal(batch.items[3].error.key, "err.wrong_type");
  batch.start(["mosaic_faces"], "auto");
  await settle();
  assert.equal(world.uploads.length, BATCH_CONCURRENCY);
  await finishUploads(world);
  assert.ok(world.maxOpen() <= BATCH_CONCURRENCY);
  assert.deepEqual(batch.items.map((i) => i.status), ["done", "done", "done", "failed", "done", "done"]);
  const created = world.calls.filter(([k]) => k === "createUpload").map(([, b]) => [b.content_type, b.options.format]);
  assert.deepEqual(created, [
    ["image/jpeg", "jpeg"],
    ["image/heic", "jpeg"],
    ["image/avif", "jpeg"],
    ["image/png", "png"],
    ["image/webp", "jpeg"],
  ]);
  assert.deepEqual(batch.counts(), { n: 6, done: 5, failed: 1, deleted: 0 });
});

test("a 429 waits as long as Retry-After says, then the file goes on", async () => {
  const world = fakeWorld({ refuse: [new ApiError("http", 429, "rate_limited", "", 7)] });
  const { batch, changes } = batchOf(world, [photo("a.jpg")]);
  batch.start(["grayscale"], "webp");
  await finishUploads(world);
  assert.deepEqual(world.sleeps[0], 7000);
  assert.ok(changes.some((statuses) => statuses[0] === "rate_limited"));
  assert.equal(batch.items[0].status, "done");
  assert.equal(retryDelayMs(new ApiError("http", 429), 3), 8000); // no header: back off
  assert.equal(retryDelayMs(new ApiError("http", 429, "", "", 9999), 0), 120000); // capped
});

test("a refusal that is not 429 fails that file only", async () => {
  const world = fakeWorld({ refuse: [new ApiError("http", 415, "unsupported_media_type")] });
  const { batch } = batchOf(world, [photo("a.jpg"), photo("b.jpg")]);
  batch.start(["grayscale"], "auto");
  await finishUploads(world);
  assert.deepEqual(batch.items.map((i) => i.status), ["failed", "done"]);
  assert.equal(batch.items[0].error.key, "err.wrong_type");
});

test("Download all zips every result under unique names; Delete all erases every job", async () => {
  const world = fakeWorld();
  const { batch } = batchOf(world, [photo("a.jpg"), photo("a.png", "image/png"), photo("x.heic", "")]);
  batch.start(["mosaic_faces"], "auto");
  await finishUploads(world);
  const zip = await batch.zipResults();
  const text = new TextDecoder().decode(zip);
  for (const name of ["a-gazokako.jpg", "a-gazokako (2).jpg", "x-gazokako.jpg"]) assert.ok(text.includes(name), name);
  assert.ok(await batch.deleteAll());
  const deleted = world.calls.filter(([k]) => k === "deleteJob").map(([, id]) => id);
  assert.deepEqual(deleted.sort(), ["job1", "job2", "job3"]);
  assert.deepEqual(batch.items.map((i) => i.status), ["deleted", "deleted", "deleted"]);
});

test("the ZIP writer: CRC-32, headers and offsets a reader can follow", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.deepEqual(uniqueNames(["a.jpg", "A.jpg", "a.jpg", "b"]), ["a.jpg", "A (2).jpg", "a (3).jpg", "b"]);
  const data = new TextEncoder().encode("hello");
  const zip = makeZip([{ name: "写真.jpg", data }], new Date(2026, 10, 29, 12, 0, 0));
  const view = new DataView(zip.buffer);
  assert.equal(view.getUint32(0, true), 0x04034b50);
  const end = zip.length - 22;
  assert.equal(view.getUint32(end, true), 0x06054b50);
  assert.equal(view.getUint16(end + 10, true), 1);
  const central = view.getUint32(end + 16, true);
  assert.equal(view.getUint32(central, true), 0x02014b50);
  assert.equal(view.getUint32(central + 16, true), crc32(data));
  const nameLength = view.getUint16(26, true);
  assert.deepEqual([...zip.slice(30 + nameLength, 30 + nameLength + 5)], [...data]);
});
