// The "check the faces" review's logic (web/review.js): `node --test tests/js/review.test.js`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MAX_BOXES,
  MIN_DRAG_PX,
  MIN_SIDE,
  addBox,
  applyKey,
  bodyKey,
  boxFromDrag,
  boxNumber,
  clampBox,
  createReview,
  faceOp,
  formatUntil,
  hitTest,
  keyAction,
  keyStep,
  moveBox,
  newBox,
  releaseBox,
  requestBody,
  resizeBox,
  reviewOpen,
  sourceSize,
  summary,
  toDisplay,
  toSource,
  toggleBox,
} from "../../web/review.js";

const SIZE = { w: 4000, h: 3000 };
const JOB = {
  id: "job1",
  status: "done",
  ops: ["grayscale", "mosaic_faces"],
  source: { width: 4000, height: 3000 },
  revision: 0,
  review_until: "2026-11-29T14:05:00Z",
  faces: {
    count: 3,
    boxes: [
      { x: 100, y: 200, w: 300, h: 300, score: 0.9 },
      { x: 2000, y: 1000, w: 400, h: 420, score: 0.8 },
      { x: 3500, y: 50, w: 200, h: 210, score: 0.7 },
    ],
  },
};

test("the source size is the job's upright size, else the picture's", () => {
  assert.deepEqual(sourceSize(JOB), SIZE);
  assert.deepEqual(sourceSize({ source: {} }, { w: 80, h: 60 }), { w: 80, h: 60 });
  assert.deepEqual(sourceSize({ source: { width: 0, height: 10 } }, { w: 8, h: 6 }), { w: 8, h: 6 });
  assert.equal(sourceSize({}), null);
});

test("review is open for a finished face job until review_until; none is no original kept", () => {
  const now = Date.parse("2026-11-29T14:00:00Z");
  assert.equal(faceOp(JOB), "mosaic_faces");
  assert.equal(reviewOpen(JOB, now), true);
  assert.equal(reviewOpen(JOB, Date.parse("2026-11-29T14:05:01Z")), false);
  // No window: the page offers the review and the API answers 410 if the source is gone.
  assert.equal(reviewOpen({ ...JOB, review_until: null }, now), false);
  assert.equal(reviewOpen({ ...JOB, review_until: undefined }, now), false);
  assert.equal(reviewOpen({ ...JOB, status: "processing" }, now), false);
  assert.equal(reviewOpen({ ...JOB, ops: ["grayscale"] }, now), false);
  assert.equal(faceOp({ ops: ["grayscale"] }), null);
});

test("the review window's end is shown as a local clock time in the page's language", () => {
  assert.equal(formatUntil("2026-11-29T14:05:00Z", "en", "UTC"), "14:05");
  assert.equal(formatUntil("2026-11-29T14:05:00Z", "ja", "Asia/Tokyo"), "23:05");
  assert.equal(formatUntil("not a time", "en", "UTC"), "");
});

test("display and source pixels convert both ways at any scale", () => {
  // The photo drawn 800 x 600 at (100, 50): one display pixel is 5 source pixels.
  const rect = { left: 100, top: 50, width: 800, height: 600 };
  assert.deepEqual(toSource(100, 50, rect, SIZE), { x: 0, y: 0 });
  assert.deepEqual(toSource(500, 350, rect, SIZE), { x: 2000, y: 1500 });
  // Outside the photo: held at its edge.
  assert.deepEqual(toSource(2000, -10, rect, SIZE), { x: 4000, y: 0 });
  const shown = toDisplay({ x: 1000, y: 750, w: 400, h: 300 }, SIZE);
  assert.deepEqual(shown, { left: 25, top: 25, width: 10, height: 10 });
  // Round trip: a box's corner on screen lands back on the same source pixel.
  const corner = toSource(rect.left + (rect.width * shown.left) / 100, rect.top + (rect.height * shown.top) / 100, rect, SIZE);
  assert.deepEqual(corner, { x: 1000, y: 750 });
});

test("boxes are whole pixels inside the image, never smaller than MIN_SIDE", () => {
  assert.deepEqual(clampBox({ x: -20.4, y: 10.6, w: 100.2, h: 50.5 }, SIZE), { x: 0, y: 11, w: 100, h: 51 });
  assert.deepEqual(clampBox({ x: 3990, y: 2990, w: 100, h: 100 }, SIZE), { x: 3900, y: 2900, w: 100, h: 100 });
  assert.deepEqual(clampBox({ x: 5, y: 5, w: 0, h: 1 }, SIZE), { x: 5, y: 5, w: MIN_SIDE, h: MIN_SIDE });
  assert.deepEqual(clampBox({ x: 0, y: 0, w: 9000, h: 9000 }, SIZE), { x: 0, y: 0, w: 4000, h: 3000 });
  // A picture smaller than MIN_SIDE still gets a box inside it.
  assert.deepEqual(clampBox({ x: 0, y: 0, w: 1, h: 1 }, { w: 2, h: 3 }), { x: 0, y: 0, w: 2, h: 3 });
});

test("a drag becomes a box whichever way it went; a short one is a tap", () => {
  const scale = 0.2; // display px per source px
  const a = { x: 1000, y: 900 };
  const b = { x: 600, y: 500 };
  assert.deepEqual(boxFromDrag(a, b, SIZE, scale), { x: 600, y: 500, w: 400, h: 400 });
  assert.deepEqual(boxFromDrag(b, a, SIZE, scale), { x: 600, y: 500, w: 400, h: 400 });
  const short = { x: a.x + (MIN_DRAG_PX - 1) / scale, y: a.y + 200 };
  assert.equal(boxFromDrag(a, short, SIZE, scale), null);
  const flat = { x: a.x + 200, y: a.y + 1 };
  assert.equal(boxFromDrag(a, flat, SIZE, scale), null);
});

test("hit-testing finds the box under a point; the smallest wins where they overlap", () => {
  const boxes = [
    { x: 0, y: 0, w: 1000, h: 1000 },
    { x: 400, y: 400, w: 100, h: 100 },
    { x: 3000, y: 2000, w: 50, h: 50 },
  ];
  assert.equal(hitTest(boxes, { x: 450, y: 450 }), 1);
  assert.equal(hitTest(boxes, { x: 900, y: 100 }), 0);
  assert.equal(hitTest(boxes, { x: 3050, y: 2050 }), 2); // the edge counts
  assert.equal(hitTest(boxes, { x: 2000, y: 2000 }), -1);
  assert.equal(hitTest([], { x: 1, y: 1 }), -1);
});

test("keys: arrows move, Shift+arrows size, Delete and Backspace release, others do nothing", () => {
  const step = keyStep(SIZE);
  assert.equal(step, 40);
  assert.equal(keyStep({ w: 50, h: 20 }), 1);
  assert.deepEqual(keyAction("ArrowLeft", false, SIZE), { kind: "move", dx: -step, dy: 0 });
  assert.deepEqual(keyAction("ArrowDown", false, SIZE), { kind: "move", dx: 0, dy: step });
  assert.deepEqual(keyAction("ArrowRight", true, SIZE), { kind: "resize", dw: step, dh: 0 });
  assert.deepEqual(keyAction("ArrowUp", true, SIZE), { kind: "resize", dw: 0, dh: -step });
  assert.deepEqual(keyAction("Delete", false, SIZE), { kind: "release" });
  assert.deepEqual(keyAction("Backspace", false, SIZE), { kind: "release" });
  for (const key of ["Enter", " ", "Tab", "a", "Escape"]) assert.equal(keyAction(key, false, SIZE), null);
});

test("moving and sizing stop at the picture's edges and at the smallest box", () => {
  const box = { x: 20, y: 30, w: 100, h: 100 };
  assert.deepEqual(moveBox(box, -40, 0, SIZE), { x: 0, y: 30, w: 100, h: 100 });
  assert.deepEqual(moveBox(box, 5000, 5000, SIZE), { x: 3900, y: 2900, w: 100, h: 100 });
  assert.deepEqual(resizeBox(box, 40, -40, SIZE), { x: 20, y: 30, w: 140, h: 60 });
  assert.deepEqual(resizeBox(box, -400, 0, SIZE), { x: 20, y: 30, w: MIN_SIDE, h: 100 });
  // Growing stops at the edge rather than pushing the box off its place.
  assert.deepEqual(resizeBox({ x: 3950, y: 0, w: 40, h: 40 }, 40, 0, SIZE), { x: 3950, y: 0, w: 50, h: 40 });
});

test("a keyboard box starts in the middle, as big as the typical face", () => {
  const boxes = [{ w: 100, h: 120 }, { w: 300, h: 200 }, { w: 50, h: 40 }];
  assert.deepEqual(newBox(boxes, SIZE), { x: 1940, y: 1440, w: 120, h: 120 });
  assert.deepEqual(newBox([], SIZE), { x: 1750, y: 1250, w: 500, h: 500 });
});

test("a review starts with every box hidden, numbered in the job's order", () => {
  const review = createReview(JOB, SIZE);
  assert.equal(review.boxes.length, 3);
  assert.deepEqual(
    review.boxes.map((b) => [boxNumber(review, b.id), b.x, b.released, b.drawn]),
    [[1, 100, false, false], [2, 2000, false, false], [3, 3500, false, false]],
  );
  assert.deepEqual(summary(review), { hidden: 3, released: 0, releasedNumbers: [] });
  // Applying it untouched asks for exactly the set the result already hides.
  assert.equal(bodyKey(requestBody(review)), bodyKey({ boxes: JOB.faces.boxes.map(({ x, y, w, h }) => ({ x, y, w, h })) }));
});

test("release, keep again, draw, move by key: the body is the complete set to hide", () => {
  const review = createReview(JOB, SIZE);
  const [one, two] = review.boxes;
  toggleBox(review, two.id);
  assert.deepEqual(summary(review), { hidden: 2, released: 1, releasedNumbers: [2] });
  toggleBox(review, two.id);
  assert.equal(two.released, false);
  assert.equal(releaseBox(review, two.id), "released");
  const drawn = addBox(review, { x: 1200.4, y: 2500, w: 300, h: 260.6 });
  assert.equal(drawn.drawn, true);
  applyKey(review, drawn.id, keyAction("ArrowLeft", false, SIZE));
  applyKey(review, one.id, keyAction("ArrowDown", true, SIZE));
  assert.deepEqual(requestBody(review), {
    boxes: [
      { x: 3500, y: 50, w: 200, h: 210 },
      { x: 100, y: 200, w: 300, h: 340 },
      { x: 1160, y: 2500, w: 300, h: 261 },
    ],
  });
  assert.deepEqual(summary(review), { hidden: 3, released: 1, releasedNumbers: [2] });
  // Delete takes a drawn box away entirely (it was never a face the result hid).
  assert.equal(applyKey(review, drawn.id, { kind: "release" }).id, drawn.id);
  assert.equal(review.boxes.some((b) => b.id === drawn.id), false);
  assert.equal(releaseBox(review, 999), null);
});

test("the same set makes the same body in any order, duplicates once: a second Apply is one revision", () => {
  const a = createReview(JOB, SIZE);
  const b = createReview({ ...JOB, faces: { ...JOB.faces, boxes: [...JOB.faces.boxes].reverse() } }, SIZE);
  addBox(b, { x: 100, y: 200, w: 300, h: 300 }); // the same box again
  assert.deepEqual(requestBody(a), requestBody(b));
  assert.equal(JSON.stringify(requestBody(a)), JSON.stringify(requestBody(b)));
  assert.equal(bodyKey(requestBody(a)), bodyKey({ boxes: [...requestBody(a).boxes].reverse() }));
  // A different set or another operation is another revision.
  toggleBox(b, b.boxes[0].id);
  assert.notEqual(bodyKey(requestBody(a)), bodyKey(requestBody(b)));
  assert.deepEqual(requestBody(a, "blur_faces", "mosaic_faces").op, "blur_faces");
  assert.equal("op" in requestBody(a, "mosaic_faces", "mosaic_faces"), false);
  assert.notEqual(bodyKey(requestBody(a, "blur_faces")), bodyKey(requestBody(a)));
  // Releasing everything is a set too: the empty one.
  for (const box of a.boxes) toggleBox(a, box.id);
  assert.deepEqual(requestBody(a), { boxes: [] });
});

test("no more than MAX_BOXES boxes can be hidden", () => {
  const review = createReview({ ...JOB, faces: { count: 0, boxes: [] } }, SIZE);
  for (let i = 0; i < MAX_BOXES; i++) assert.ok(addBox(review, { x: i * 10, y: 0, w: 8, h: 8 }));
  assert.equal(addBox(review, { x: 0, y: 100, w: 8, h: 8 }), null);
  assert.equal(requestBody(review).boxes.length, MAX_BOXES);
});

test("after a revision, the faces it released come back released so they can be restored", () => {
  const first = createReview(JOB, SIZE);
  releaseBox(first, first.boxes[1].id);
  const drawn = addBox(first, { x: 10, y: 2800, w: 100, h: 100 });
  const dropped = addBox(first, { x: 500, y: 2800, w: 100, h: 100 });
  toggleBox(first, dropped.id); // drawn, then released: not sent, and not worth keeping
  const body = requestBody(first);
  const revised = { ...JOB, revision: 1, faces: { count: body.boxes.length, boxes: body.boxes, reviewed: true } };
  const second = createReview(revised, SIZE, first);
  assert.deepEqual(
    second.boxes.map((b) => [boxNumber(second, b.id), b.x, b.y, b.released, b.drawn]),
    [
      [1, 3500, 50, false, false],
      [2, 100, 200, false, false],
      [3, 10, 2800, false, true],
      [4, 2000, 1000, true, false],
    ],
  );
  assert.ok(drawn.drawn);
  assert.equal(bodyKey(requestBody(second)), bodyKey(revised.faces));
  // Restoring it asks for the first set again.
  toggleBox(second, second.boxes[3].id);
  assert.deepEqual(requestBody(second).boxes.length, 4);
});
