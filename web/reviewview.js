// The "check the faces" view: the original photo the person picked (never fetched from the
// server) with the boxes drawn over it, numbered, as buttons. A click or tap releases a box or
// keeps it again; a drag on the photo draws a new one (pointer events: mouse, pen and touch);
// the keyboard adds, selects (Tab), moves (arrows), sizes (Shift+arrows) and releases (Delete)
// boxes. The geometry and the request body are web/review.js's; this module only draws.
import {
  MAX_BOXES,
  addBox,
  applyKey,
  boxFromDrag,
  boxNumber,
  createReview,
  findBox,
  formatUntil,
  hiddenBoxes,
  hitTest,
  keyAction,
  newBox,
  requestBody,
  sourceSize,
  summary,
  toDisplay,
  toSource,
  toggleBox,
} from "./review.js";

/**
 * `t(key, params)` translates, `lang()` is the page's language, `onApply(body)` sends a
 * revision, `onClose()` is called when the person goes back to the result.
 */
export function createReviewView(document, { t, lang, onApply, onClose }) {
  const $ = (id) => document.getElementById(id);
  const el = {
    section: $("review-section"),
    heading: $("review-heading"),
    until: $("review-until"),
    fallback: $("review-fallback"),
    stage: $("review-stage"),
    img: $("review-img"),
    boxes: $("review-boxes"),
    draft: $("review-draft"),
    count: $("review-count"),
    warning: $("review-warning"),
    limit: $("review-limit"),
    closed: $("review-closed"),
    add: $("review-add"),
    apply: $("review-apply"),
    cancel: $("review-cancel"),
  };

  const shown = {
    job: null,
    review: null,
    revision: null, // the job revision the review was made from
    jobId: null,
    fallbackType: "", // set when the original cannot be drawn: its type, for the note
    busy: false,
    closed: false,
    tooMany: false,
  };
  const buttons = new Map(); // box id -> its button

  /* ---------- opening and closing ---------- */

  /**
   * Opens the review of a finished job over `imageUrl` (the local original; `fallbackType` is
   * set when the browser cannot draw it and the result stands in). A review left with "Back to
   * the result" is kept as it was while the result is the same; after a revision, the boxes it
   * released come back released.
   */
  function open(job, imageUrl, fallbackType = "") {
    const sameJob = shown.jobId === job.id;
    if (!(sameJob && shown.revision === (job.revision ?? 0) && shown.review)) {
      // The result's size stands in only if the API did not give the source's.
      const size = sourceSize(job, { w: job.result?.width, h: job.result?.height }) ?? { w: 1, h: 1 };
      shown.review = createReview(job, size, sameJob ? shown.review : null);
    }
    shown.job = job;
    shown.jobId = job.id;
    shown.revision = job.revision ?? 0;
    shown.fallbackType = fallbackType;
    shown.closed = false;
    shown.tooMany = false;
    const { w, h } = shown.review.size;
    // Drawn at the source's proportions, as large as fits: the boxes are placed in percent of it.
    el.stage.style.aspectRatio = `${w} / ${h}`;
    el.stage.style.width = `min(100%, calc(70vh * ${w} / ${h}))`;
    el.img.src = imageUrl;
    buttons.clear();
    el.boxes.replaceChildren();
    el.section.hidden = false;
    render();
    el.heading.focus();
  }

  function hide() {
    el.section.hidden = true;
    el.draft.hidden = true;
  }

  /** Forgets the review (a new photo, a deletion). */
  function reset() {
    hide();
    shown.job = null;
    shown.review = null;
    shown.jobId = null;
    shown.revision = null;
    buttons.clear();
    el.boxes.replaceChildren();
    el.img.removeAttribute("src");
  }

  function setBusy(busy) {
    shown.busy = busy;
    renderControls();
  }

  /** The API answered 410: the source is gone and nothing can be changed any more. */
  function close() {
    shown.closed = true;
    render();
  }

  /* ---------- drawing ---------- */

  function render() {
    if (!shown.review) return;
    renderBoxes();
    renderText();
    renderControls();
  }

  function boxLabel(box) {
    const n = boxNumber(shown.review, box.id);
    const key = box.released ? "review.box.released" : box.drawn ? "review.box.drawn" : "review.box";
    return t(key, { n });
  }

  function renderBoxes() {
    const review = shown.review;
    const alive = new Set(review.boxes.map((b) => b.id));
    for (const [id, button] of buttons) {
      if (!alive.has(id)) {
        button.remove();
        buttons.delete(id);
      }
    }
    // Smaller boxes are drawn above larger ones, as hitTest picks them.
    const byArea = [...review.boxes].sort((a, b) => b.w * b.h - a.w * a.h);
    byArea.forEach((box, layer) => {
      let button = buttons.get(box.id);
      if (!button) {
        button = document.createElement("button");
        button.type = "button";
        button.className = "review-box";
        button.dataset.id = String(box.id);
        button.setAttribute("aria-describedby", "review-keys");
        const number = document.createElement("span");
        number.className = "review-num";
        number.setAttribute("aria-hidden", "true");
        button.append(number);
        buttons.set(box.id, button);
      }
      const at = toDisplay(box, review.size);
      button.style.left = `${at.left}%`;
      button.style.top = `${at.top}%`;
      button.style.width = `${at.width}%`;
      button.style.height = `${at.height}%`;
      button.style.zIndex = String(layer + 1);
      button.classList.toggle("released", box.released);
      button.classList.toggle("drawn", box.drawn);
      button.dataset.state = box.released ? "released" : "hidden";
      button.firstChild.textContent = String(boxNumber(review, box.id));
      button.setAttribute("aria-label", boxLabel(box));
    });
    // DOM order is the numbering, so Tab goes 1, 2, 3 whatever the layers.
    const ordered = review.boxes.map((b) => buttons.get(b.id));
    if (ordered.some((button, i) => el.boxes.children[i] !== button)) {
      const focused = document.activeElement;
      el.boxes.replaceChildren(...ordered);
      if (focused && ordered.includes(focused)) focused.focus();
    }
  }

  function renderText() {
    const job = shown.job;
    el.until.textContent =
      typeof job?.review_until === "string"
        ? t("review.until", { time: formatUntil(job.review_until, lang()) })
        : "";
    el.until.hidden = shown.closed || !el.until.textContent;
    el.fallback.hidden = !shown.fallbackType;
    el.fallback.textContent = shown.fallbackType ? t("review.fallback", { type: shown.fallbackType }) : "";
    const s = summary(shown.review);
    // The live region is read whole (aria-atomic) and only when one of its parts changes.
    const parts = [
      [el.count, t(s.hidden === 1 ? "review.summary.1" : "review.summary.n", s)],
      [el.warning, s.released ? t(s.released === 1 ? "review.warning.1" : "review.warning.n", { list: s.releasedNumbers.join(", ") }) : ""],
      [el.limit, shown.tooMany ? t("review.too_many", { max: MAX_BOXES }) : ""],
    ];
    for (const [node, text] of parts) if (node.textContent !== text) node.textContent = text;
    el.closed.hidden = !shown.closed;
  }

  function renderControls() {
    const locked = shown.busy || shown.closed;
    el.add.disabled = locked;
    el.apply.disabled = locked;
    el.stage.classList.toggle("locked", locked);
    for (const button of buttons.values()) button.disabled = locked;
  }

  function focusBox(id) {
    const button = buttons.get(id);
    if (button) button.focus();
    else el.add.focus();
  }

  /* ---------- clicks, keys and drags ---------- */

  el.boxes.addEventListener("click", (event) => {
    const button = event.target.closest(".review-box");
    if (!button || shown.busy || shown.closed) return;
    toggleBox(shown.review, Number(button.dataset.id));
    render();
  });

  el.boxes.addEventListener("keydown", (event) => {
    const button = event.target.closest(".review-box");
    if (!button || shown.busy || shown.closed) return;
    const action = keyAction(event.key, event.shiftKey, shown.review.size);
    if (!action) return;
    event.preventDefault();
    const id = Number(button.dataset.id);
    const index = shown.review.boxes.findIndex((b) => b.id === id);
    applyKey(shown.review, id, action);
    render();
    if (findBox(shown.review, id)) focusBox(id);
    else {
      // A drawn box taken away: focus moves to the box that took its place, else "Add a box".
      const next = shown.review.boxes[Math.min(index, shown.review.boxes.length - 1)];
      focusBox(next?.id);
    }
  });

  el.add.addEventListener("click", () => {
    if (shown.busy || shown.closed) return;
    const box = addBox(shown.review, newBox(hiddenBoxes(shown.review), shown.review.size));
    shown.tooMany = !box;
    render();
    if (box) focusBox(box.id);
  });

  el.apply.addEventListener("click", () => {
    if (shown.busy || shown.closed || !shown.review) return;
    onApply(requestBody(shown.review));
  });

  el.cancel.addEventListener("click", () => {
    hide();
    onClose();
  });

  /** Where the photo is on screen (the stage is drawn at its proportions). */
  const photoRect = () => el.stage.getBoundingClientRect();

  // The pointer is the stage's alone (the box buttons let it through, `pointer-events: none`):
  // a tap releases or keeps the box under it (the smallest, where boxes overlap), a drag draws a
  // new box, even one that starts over an existing box. Keyboards and screen readers click the
  // buttons themselves (above).
  el.stage.addEventListener("pointerdown", (event) => {
    if (!shown.review || shown.busy || shown.closed || event.button !== 0) return;
    // Otherwise the browser starts dragging the picture or selecting text.
    event.preventDefault();
    const size = shown.review.size;
    const scale = photoRect().width / size.w;
    const start = toSource(event.clientX, event.clientY, photoRect(), size);
    let end = start;
    const drawn = () => boxFromDrag(start, end, size, scale);
    const move = (e) => {
      end = toSource(e.clientX, e.clientY, photoRect(), size);
      const box = drawn();
      el.draft.hidden = !box;
      if (!box) return;
      const at = toDisplay(box, size);
      el.draft.style.left = `${at.left}%`;
      el.draft.style.top = `${at.top}%`;
      el.draft.style.width = `${at.width}%`;
      el.draft.style.height = `${at.height}%`;
    };
    const stop = (e) => {
      el.stage.removeEventListener("pointermove", move);
      el.stage.removeEventListener("pointerup", stop);
      el.stage.removeEventListener("pointercancel", stop);
      el.draft.hidden = true;
      if (e.type !== "pointerup" || !shown.review) return;
      end = toSource(e.clientX, e.clientY, photoRect(), size);
      const rect = drawn();
      if (rect) {
        const box = addBox(shown.review, rect);
        shown.tooMany = !box;
      } else {
        const index = hitTest(shown.review.boxes, start);
        if (index < 0) return;
        toggleBox(shown.review, shown.review.boxes[index].id);
      }
      render();
    };
    el.stage.setPointerCapture(event.pointerId);
    el.stage.addEventListener("pointermove", move);
    el.stage.addEventListener("pointerup", stop);
    el.stage.addEventListener("pointercancel", stop);
  });

  return {
    open,
    hide,
    reset,
    setBusy,
    close,
    render,
    shown: () => !el.section.hidden,
    isClosed: () => shown.closed,
  };
}
