"""Recall and false positives of a detector over the labelled set, per bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from imaging import FaceBox
from imaging.ops import pad_box

from .dataset import Box, Image, Sample

#: A face counts as found when one padded redaction box covers this much of its box.
MIN_COVERAGE = 0.9
#: ... and that box is not absurdly larger than the face (a whole-image box is no detection).
MAX_AREA_RATIO = 30.0


@dataclass
class Score:
    faces: int = 0
    found: int = 0
    false_positives: int = 0
    images: int = 0
    misses: list[str] = field(default_factory=list)
    fp_names: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 1.0


def covers(face: FaceBox, gt: Box, width: int, height: int) -> bool:
    x0, y0, x1, y1 = pad_box(face, 1.0, width, height)
    gx, gy, gw, gh = gt
    ix = max(0, min(x1, gx + gw) - max(x0, gx))
    iy = max(0, min(y1, gy + gh) - max(y0, gy))
    coverage = ix * iy / max(1, gw * gh)
    return coverage >= MIN_COVERAGE and face.w * face.h <= MAX_AREA_RATIO * gw * gh


def on_face(face: FaceBox, gt: Box) -> bool:
    """The box is centred on a labelled face: a second, partial box on a face that another
    box covers redacts nothing extra, so it is not a false positive."""
    gx, gy, gw, gh = gt
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    return gx <= cx <= gx + gw and gy <= cy <= gy + gh


def evaluate(
    detect: Callable[[Image], Iterable[FaceBox]], samples: Iterable[Sample]
) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for s in samples:
        sc = scores.setdefault(s.bucket, Score())
        sc.images += 1
        h, w = s.image.shape[:2]
        found = list(detect(s.image))
        used: set[int] = set()
        for gt in s.faces:
            sc.faces += 1
            hit = next((i for i, f in enumerate(found) if covers(f, gt, w, h)), None)
            if hit is None:
                sc.misses.append(s.name if len(s.faces) == 1 else f"{s.name} face {gt}")
            else:
                sc.found += 1
                used.add(hit)
        if not s.partly_labelled:
            extra = [
                f
                for i, f in enumerate(found)
                if i not in used and not any(on_face(f, gt) for gt in s.faces)
            ]
            sc.false_positives += len(extra)
            sc.fp_names.extend(f"{s.name}:{f.x},{f.y},{f.w},{f.h}@{f.score:.2f}" for f in extra)
    return scores


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'bucket':<12} {'faces':>5} {'found':>5} {'recall':>7} {'FP':>4} {'images':>6}"]
    for name, sc in scores.items():
        lines.append(
            f"{name:<12} {sc.faces:>5} {sc.found:>5} {sc.recall:>7.1%} "
            f"{sc.false_positives:>4} {sc.images:>6}"
        )
    return "\n".join(lines)
