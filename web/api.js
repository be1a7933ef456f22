// Talking to the upload API and to storage, and reading config.json: no DOM and no page state,
// so node's test runner can drive it with a fake fetch and a fake XMLHttpRequest.

// Defaults; config.json may override any of them (tests shorten the timeouts).
export const DEFAULTS = {
  api_base: "",
  max_bytes: 20_000_000,
  poll_interval_ms: 1000,
  processing_timeout_s: 120,
  request_timeout_s: 30,
  upload_timeout_s: 300,
};

export class ApiError extends Error {
  constructor(kind, status = 0, code = "", message = "", retryAfter = null) {
    super(message || kind);
    this.kind = kind; // "network" | "timeout" | "http" | "aborted"
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds from a 429's Retry-After, else null
  }
}

// Called as a plain function: a fetch kept as an object's method throws "Illegal invocation".
const browserFetch = (...args) => fetch(...args);

/** The page's settings from config.json's parsed body; throws when api_base is missing. */
export function parseConfig(data) {
  if (typeof data?.api_base !== "string" || !data.api_base) throw new Error("config.json: api_base");
  return { ...DEFAULTS, ...data, api_base: data.api_base.replace(/\/+$/, "") };
}

export async function loadConfig(fetchImpl = browserFetch) {
  const response = await fetchImpl("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: ${response.status}`);
  return parseConfig(await response.json());
}

/** The upload API's client: JSON in and out, a timeout per request, errors as ApiError. */
export function createApiClient(config, { fetch: fetchImpl = browserFetch } = {}) {
  async function request(method, path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), config.request_timeout_s * 1000);
    let response;
    try {
      response = await fetchImpl(config.api_base + path, {
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
      const wait = Number.parseInt(response.headers?.get?.("Retry-After") ?? "", 10);
      const retryAfter = Number.isFinite(wait) && wait >= 0 ? wait : null;
      throw new ApiError("http", response.status, err.code || "", err.message || "", retryAfter);
    }
    return data;
  }

  const jobPath = (jobId) => `/jobs/${encodeURIComponent(jobId)}`;
  return {
    request,
    createUpload: (body) => request("POST", "/uploads", body),
    getJob: (jobId) => request("GET", jobPath(jobId)),
    deleteJob: (jobId) => request("DELETE", jobPath(jobId)),
    /** Asks for the result again with exactly `body.boxes` hidden; answers the job (202). */
    createRevision: (jobId, body) => request("POST", `${jobPath(jobId)}/revisions`, body),
    /** The result's bytes from its signed URL (a fetch that fails to connect throws as is). */
    async fetchResult(url) {
      const response = await fetchImpl(url, { cache: "no-store" });
      if (!response.ok) throw new ApiError("http", response.status);
      return response.blob();
    },
  };
}

/**
 * PUTs the file to the signed storage URL with exactly the headers the API returned, through
 * XMLHttpRequest so `onProgress(loaded, total)` follows real upload progress (`total` is null
 * when the browser cannot compute it). Resolves with storage's answer {status, body} whatever the
 * status; rejects with ApiError "network" when the connection fails or times out, and "aborted"
 * when `signal` aborts it.
 */
export function putFile(target, file, { timeoutMs, onProgress, signal, XHR } = {}) {
  const Request = XHR ?? XMLHttpRequest;
  return new Promise((resolve, reject) => {
    const xhr = new Request();
    xhr.open(target.method || "PUT", target.url);
    for (const [name, value] of Object.entries(target.headers || {})) {
      xhr.setRequestHeader(name, value);
    }
    xhr.timeout = timeoutMs;
    xhr.upload.addEventListener("progress", (event) => {
      onProgress?.(event.loaded, event.lengthComputable ? event.total : null);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, body: xhr.responseText || "" }));
    xhr.addEventListener("error", () => reject(new ApiError("network")));
    xhr.addEventListener("timeout", () => reject(new ApiError("network")));
    xhr.addEventListener("abort", () => reject(new ApiError("aborted")));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(file);
  });
}
