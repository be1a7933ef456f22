// The "check the faces" review, without the DOM: the boxes a person keeps, releases, draws and
// moves, in upright source pixels (the convention of the API's `faces.boxes`), and the request
// body that asks for exactly that set. web/reviewview.js draws it; node's test runner drives
// this module directly (tests/js/review.test.js).

/** The API refuses more boxes than this in one revision. */
export const MAX_BOXES = 256;
/** The smallest side a box may have, in source pixels (a drag shorter than this is a tap). */
export const MIN_SIDE = 4;
/** A drag shorter than this many display pixels is a tap, not a new box. */
export const MIN_DRAG_PX = 8;

const FACE_OPS = ["mosaic_faces", "blur_faces", "redact_faces"];

/** The face operation of a job, or null when it has none (no review then). */
export function faceOp(job) {
  return (job?.ops || []).find((op) => FACE_OPS.includes(op)) ?? null;
}

/**
 * The upright source size the boxes are measured in: the job's `source.width/height`, else the
 * size of the picture the page shows (the browser draws a photo upright, as the API measures it).
 */
export function sourceSize(job, natural = null) {
  const w = job?.source?.width;
  const h = job?.source?.height;
  if (Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) return { w, h };
  if (natural && natural.w > 0 && natural.h > 0) return { w: natural.w, h: natural.h };
  return null;
}

/** Whether the job can still be reviewed by the page's clock: until `review_until`. Without
 * one the API keeps no original for review (REVIEW_WINDOW_SECONDS 0, or the window is over and
 * the original deleted) and would answer 410 review_closed. */
export function reviewOpen(job, now = Date.now()) {
  if (job?.status !== "done" || !faceOp(job) || !job.faces) return false;
  if (typeof job.review_until !== "string") return false;
  const until = Date.parse(job.review_until);
  return !Number.isNaN(until) && until > now;
}

/** "14:05" in the page's language and the browser's time zone. */
export function formatUntil(iso, lang, timeZone = undefined) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  }).format(when);
}

/* ---------- geometry ---------- */

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/** A box of whole pixels inside the image, each side at least MIN_SIDE (or the image's side). */
export function clampBox(box, size) {
  const minW = Math.min(MIN_SIDE, size.w);
  const minH = Math.min(MIN_SIDE, size.h);
  const w = clamp(Math.round(box.w), minW, size.w);
  const h = clamp(Math.round(box.h), minH, size.h);
  const x = clamp(Math.round(box.x), 0, size.w - w);
  const y = clamp(Math.round(box.y), 0, size.h - h);
  return { x, y, w, h };
}

/** A point on the screen (clientX/Y) in source pixels, given where the picture is drawn
 * (`rect`: left, top, width, height of the displayed picture) and the source size. */
export function toSource(clientX, clientY, rect, size) {
  return {
    x: clamp(((clientX - rect.left) / rect.width) * size.w, 0, size.w),
    y: clamp(((clientY - rect.top) / rect.height) * size.h, 0, size.h),
  };
}

/** Where a source box sits on the displayed picture, in percent of it (so it follows any
 * scaling of the picture without being recomputed). */
export function toDisplay(box, size) {
  return {
    left: (box.x / size.w) * 100,
    top: (box.y / size.h) * 100,
    width: (box.w / size.w) * 100,
    height: (box.h / size.h) * 100,
  };
}

/** The box two corners (in source pixels) span, clamped to the image; null when the drag
 * covered less than MIN_DRAG_PX on screen either way (`scale`: display px per source px). */
export function boxFromDrag(a, b, size, scale = 1) {
  const w = Math.abs(b.x - a.x);
  const h = Math.abs(b.y - a.y);
  if (w * scale < MIN_DRAG_PX || h * scale < MIN_DRAG_PX) return null;
  return clampBox({ x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w, h }, size);
}

/** The index of the box under a source point, or -1: the smallest one wins where boxes overlap
 * (it is drawn on top, so a small face inside a big box can still be reached). */
export function hitTest(boxes, point) {
  let best = -1;
  let bestArea = Infinity;
  boxes.forEach((box, index) => {
    const inside = point.x >= box.x && point.x <= box.x + box.w && point.y >= box.y && point.y <= box.y + box.h;
    if (inside && box.w * box.h < bestArea) {
      best = index;
      bestArea = box.w * box.h;
    }
  });
  return best;
}

/** How far one arrow key press moves or sizes a box: 1% of the longer side, at least 1 px. */
export function keyStep(size) {
  return Math.max(1, Math.round(Math.max(size.w, size.h) / 100));
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/**
 * What a key pressed on a selected box does: arrows move it, Shift+arrows size it (right and
 * down grow, left and up shrink), Delete or Backspace release it. Enter and Space are the
 * box button's own activation (a click), which switches it between hidden and released.
 */
export function keyAction(key, shiftKey, size) {
  const step = keyStep(size);
  if (key in ARROWS) {
    const [dx, dy] = ARROWS[key];
    return shiftKey ? { kind: "resize", dw: dx * step, dh: dy * step } : { kind: "move", dx: dx * step, dy: dy * step };
  }
  if (key === "Delete" || key === "Backspace") return { kind: "release" };
  return null;
}

export function moveBox(box, dx, dy, size) {
  return clampBox({ ...box, x: box.x + dx, y: box.y + dy }, size);
}

/** Grows or shrinks a box from its top-left corner, within the image. */
export function resizeBox(box, dw, dh, size) {
  const w = clamp(box.w + dw, Math.min(MIN_SIDE, size.w), size.w - box.x);
  const h = clamp(box.h + dh, Math.min(MIN_SIDE, size.h), size.h - box.y);
  return clampBox({ ...box, w, h }, size);
}

/** A new box in the middle of the picture, as big as the typical face already there (the
 * median side of the boxes) or a sixth of the shorter side. */
export function newBox(boxes, size) {
  const sides = boxes.map((b) => Math.max(b.w, b.h)).sort((a, b) => a - b);
  const side = sides.length ? sides[Math.floor(sides.length / 2)] : Math.round(Math.min(size.w, size.h) / 6);
  const s = clamp(side, Math.min(MIN_SIDE, size.w, size.h), Math.min(size.w, size.h));
  return clampBox({ x: (size.w - s) / 2, y: (size.h - s) / 2, w: s, h: s }, size);
}

/* ---------- the review ---------- */

const sameRect = (a, b) =>
  Math.round(a.x) === Math.round(b.x) &&
  Math.round(a.y) === Math.round(b.y) &&
  Math.round(a.w) === Math.round(b.w) &&
  Math.round(a.h) === Math.round(b.h);

/**
 * The review of a finished job: every box the result hides (`job.faces.boxes`), numbered in
 * order, kept hidden. `previous` is the review that led to this result, if any: the boxes it
 * released are shown again, still released, so a face released by mistake can be restored
 * (the result no longer lists it), and a box keeps whether the person drew it.
 */
export function createReview(job, size, previous = null) {
  const review = { size, boxes: [], nextId: 1 };
  const fromResult = (job?.faces?.boxes || []).map((b) => clampBox(b, size));
  for (const rect of fromResult) {
    const before = previous?.boxes.find((b) => !b.released && sameRect(b, rect));
    review.boxes.push({ id: review.nextId++, ...rect, drawn: Boolean(before?.drawn), released: false });
  }
  for (const old of previous?.boxes || []) {
    if (old.released && !old.drawn && !fromResult.some((rect) => sameRect(rect, old))) {
      review.boxes.push({ id: review.nextId++, ...clampBox(old, size), drawn: false, released: true });
    }
  }
  return review;
}

/** The 1-based number a box is shown with (its place in the list). */
export function boxNumber(review, id) {
  return review.boxes.findIndex((b) => b.id === id) + 1;
}

export function findBox(review, id) {
  return review.boxes.find((b) => b.id === id) ?? null;
}

/** Switches a box between hidden and released. */
export function toggleBox(review, id) {
  const box = findBox(review, id);
  if (box) box.released = !box.released;
  return box;
}

/** Delete on a box: a detected face is released (and can be restored); a box the person drew
 * is taken away. Returns what happened: "released", "removed" or null. */
export function releaseBox(review, id) {
  const box = findBox(review, id);
  if (!box) return null;
  if (box.drawn) {
    review.boxes = review.boxes.filter((b) => b.id !== id);
    return "removed";
  }
  box.released = true;
  return "released";
}

/** Adds a box the person drew (source pixels); null when the review already has MAX_BOXES
 * hidden boxes. */
export function addBox(review, rect) {
  if (hiddenBoxes(review).length >= MAX_BOXES) return null;
  const box = { id: review.nextId++, ...clampBox(rect, review.size), drawn: true, released: false };
  review.boxes.push(box);
  return box;
}

/** Moves or sizes a box by a keyAction. */
export function applyKey(review, id, action) {
  const box = findBox(review, id);
  if (!box || !action) return box;
  if (action.kind === "move") Object.assign(box, moveBox(box, action.dx, action.dy, review.size));
  if (action.kind === "resize") Object.assign(box, resizeBox(box, action.dw, action.dh, review.size));
  if (action.kind === "release") releaseBox(review, id);
  return box;
}

export function hiddenBoxes(review) {
  return review.boxes.filter((b) => !b.released);
}

/** What the live summary says: how many boxes are hidden, how many released, and the numbers
 * of the released ones (the faces that will be visible). */
export function summary(review) {
  const released = review.boxes.filter((b) => b.released).map((b) => boxNumber(review, b.id));
  return { hidden: review.boxes.length - released.length, released: released.length, releasedNumbers: released };
}

const canonical = (a, b) => a.y - b.y || a.x - b.x || a.h - b.h || a.w - b.w;

/**
 * The body of `POST /jobs/{id}/revisions`: the complete set of boxes to hide, as whole source
 * pixels, without duplicates, in one fixed order. The same set therefore always makes the same
 * body, whatever order the person worked in, so sending it again (a retry, a second Apply) is
 * the same revision to the API. `op` is sent only when it differs from the job's.
 */
export function requestBody(review, op = null, jobOp = null) {
  const seen = new Set();
  const boxes = [];
  for (const box of hiddenBoxes(review)) {
    const rect = clampBox(box, review.size);
    const key = `${rect.x},${rect.y},${rect.w},${rect.h}`;
    if (seen.has(key)) continue;
    seen.add(key);
    boxes.push(rect);
  }
  boxes.sort(canonical);
  const body = { boxes };
  if (op && op !== jobOp) body.op = op;
  return body;
}

/** A key that is equal for two bodies exactly when they ask for the same revision. */
export function bodyKey(body) {
  const boxes = [...body.boxes].sort(canonical).map((b) => [b.x, b.y, b.w, b.h]);
  return JSON.stringify([body.op ?? null, boxes]);
}
