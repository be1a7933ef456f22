// Many photos at once: each file becomes its own job; a few run at a time; a 429 waits as long
// as its Retry-After says. No DOM here: `onChange(items)` tells the page to redraw the list.
import { ALLOWED_TYPES, describeApiError, downloadName, fileType, outputFormat } from "./flow.js";
import { makeZip, uniqueNames } from "./zip.js";

export const BATCH_CONCURRENCY = 3;
// A refusal for too many requests is waited out this many times before the file fails.
export const RATE_LIMIT_RETRIES = 6;

const browserTimers = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** How long to wait after a 429: its Retry-After (capped at 2 minutes), else 2^attempt s. */
export function retryDelayMs(error, attempt) {
  const seconds = error?.retryAfter;
  if (typeof seconds === "number" && seconds >= 0) return Math.min(seconds, 120) * 1000;
  return Math.min(2 ** attempt, 30) * 1000;
}

/**
 * deps: `api` (createUpload, getJob, deleteJob, fetchResult), `putFile`, `config`,
 * `hasMessage`, `formatSize`, `onChange(items)`, `timers` ({now, sleep}).
 */
export function createBatch({ api, putFile, config, hasMessage, formatSize, onChange, timers = browserTimers }) {
  const items = [];
  let running = 0;
  let ops = [];
  let choice = "auto";
  let stopped = false;

  const changed = () => onChange(items);

  function fail(item, key, params = {}) {
    item.status = "failed";
    item.error = { key, params };
    changed();
  }

  /** Adds files; those the API would refuse anyway fail at once, with the reason. */
  function add(files) {
    for (const file of files) {
      const item = { file, type: fileType(file), status: "queued", loaded: 0, total: file.size, jobId: null, job: null, error: null };
      items.push(item);
      if (!ALLOWED_TYPES.includes(item.type)) fail(item, "err.wrong_type", { name: file.name });
      else if (file.size > config.max_bytes) fail(item, "err.too_large", { name: file.name, size: formatSize(file.size) });
      else if (file.size === 0) fail(item, "err.empty", { name: file.name });
    }
    changed();
  }

  function start(selectedOps, selectedFormat) {
    ops = selectedOps;
    choice = selectedFormat;
    stopped = false;
    pump();
  }

  function pump() {
    while (!stopped && running < BATCH_CONCURRENCY) {
      const next = items.find((item) => item.status === "queued");
      if (!next) return;
      running++;
      next.status = "creating";
      changed();
      run(next).finally(() => {
        running--;
        pump();
      });
    }
  }

  async function create(item) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api.createUpload({
          filename: item.file.name,
          content_type: item.type,
          size: item.file.size,
          ops,
          options: { format: outputFormat(choice, item.type) },
        });
      } catch (error) {
        if (error.kind === "http" && error.status === 429 && attempt < RATE_LIMIT_RETRIES) {
          item.status = "rate_limited";
          changed();
          await timers.sleep(retryDelayMs(error, attempt));
          if (stopped) return null;
          item.status = "creating";
          changed();
          continue;
        }
        throw error;
      }
    }
  }

  async function run(item) {
    let created;
    try {
      created = await create(item);
    } catch (error) {
      fail(item, ...describeApiError(error, item.file, formatSize));
      return;
    }
    if (!created) return;
    if (item.status === "deleted") {
      // "Delete all" ran while this job was being made: it must not outlive the click.
      api.deleteJob(created.id).catch(() => {});
      return;
    }
    item.jobId = created.id;
    item.status = "uploading";
    changed();
    let answer;
    try {
      answer = await putFile(created.upload, item.file, {
        timeoutMs: config.upload_timeout_s * 1000,
        onProgress: (loaded, total) => {
          item.loaded = loaded;
          item.total = total ?? item.file.size;
          changed();
        },
      });
    } catch {
      if (item.status !== "deleted") fail(item, "err.upload_network");
      return;
    }
    if (item.status === "deleted") return;
    if (answer.status < 200 || answer.status >= 300) {
      fail(item, "err.upload_refused", { status: answer.status });
      return;
    }
    item.loaded = item.total;
    item.status = "waiting";
    changed();
    await follow(item);
  }

  async function follow(item) {
    const deadline = timers.now() + config.processing_timeout_s * 1000;
    let failures = 0;
    while (!stopped && item.status !== "deleted") {
      let job;
      try {
        job = await api.getJob(item.jobId);
        failures = 0;
      } catch (error) {
        if (error.kind !== "http" && ++failures <= 3) {
          await timers.sleep(config.poll_interval_ms);
          continue;
        }
        fail(item, ...describeApiError(error, item.file, formatSize));
        return;
      }
      if (item.status === "deleted") return;
      item.job = job;
      if (job.status === "done") {
        item.status = "done";
        changed();
        return;
      }
      if (job.status === "failed") {
        const code = job.error?.code || "";
        const key = hasMessage(`err.job.${code}`) ? `err.job.${code}` : "err.job.other";
        fail(item, key, { message: job.error?.message || code || "?" });
        return;
      }
      item.status = job.status === "processing" ? "processing" : "waiting";
      changed();
      if (timers.now() >= deadline) {
        fail(item, "err.processing_timeout", { s: config.processing_timeout_s });
        return;
      }
      await timers.sleep(config.poll_interval_ms);
    }
  }

  /** One ZIP of every finished result; a stale signed link is refreshed once. */
  async function zipResults() {
    const done = items.filter((item) => item.status === "done" && item.job?.result);
    const names = uniqueNames(done.map((item) => downloadName(item.file.name, item.job.result.content_type)));
    const entries = [];
    for (const [index, item] of done.entries()) {
      let blob;
      try {
        blob = await api.fetchResult(item.job.result.url);
      } catch {
        item.job = await api.getJob(item.jobId);
        blob = await api.fetchResult(item.job.result.url);
      }
      entries.push({ name: names[index], data: new Uint8Array(await blob.arrayBuffer()) });
    }
    return makeZip(entries);
  }

  /** Erases every job (idempotent on the server); those not started yet never will be. */
  async function deleteAll() {
    stopped = true;
    const failures = [];
    for (const item of items) {
      if (item.status === "deleted") continue;
      if (item.jobId) {
        try {
          await api.deleteJob(item.jobId);
        } catch (error) {
          if (!(error.kind === "http" && error.status === 404)) {
            failures.push(item);
            continue;
          }
        }
      }
      item.status = "deleted";
      item.job = null;
    }
    changed();
    return failures.length === 0;
  }

  const counts = () => ({
    n: items.length,
    done: items.filter((i) => i.status === "done").length,
    failed: items.filter((i) => i.status === "failed").length,
    deleted: items.filter((i) => i.status === "deleted").length,
  });

  return { items, add, start, zipResults, deleteAll, counts, running: () => running };
}
