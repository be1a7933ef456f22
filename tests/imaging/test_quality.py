"""Quality harness: recall and false positives per bucket over the labelled set.

The gates are what the detector reached when it was chosen (see imaging/README.md): a
regression below them fails. The table is printed on every run and written to
.local/quality-report.txt.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imaging.detect import detect_faces

from . import dataset, scoring

# Builds and scores the whole labelled set: minutes on two cores, so `make test` runs it and
# `make check` does not.
pytestmark = pytest.mark.slow

#: Minimum recall per bucket (6 synthetic faces per bucket, 8 real ones, 22 in two 12 MP photos,
#: 64 in four camera photos).
RECALL_GATES: dict[str, float] = {
    "real_faces": 1.0,
    "size_24": 1.0,
    "size_32": 1.0,
    "size_48": 1.0,
    "size_96": 1.0,
    "size_200": 1.0,
    "full_frame": 1.0,
    "rot_15": 1.0,
    "rot_30": 1.0,
    "rot_45": 1.0,
    "dark": 1.0,
    "blur": 1.0,
    "jpeg_q10": 1.0,
    # 21 of 22: the miss is a 3/4 profile looking down, 24 px tall at the photo's edge, which
    # neither CenterFace nor YuNet scores above 0.32 at any enlargement from 1x to 3x.
    "large_12mp": 0.95,
    # Four camera photos, 64 faces of 24-40 px on tile borders and photo edges, turned, dark,
    # blurred (dataset.CAMERA_PHOTOS): where a cascade or a pre-filter would lose faces
    # first. The pyramid before the cascade (1.5x level over the whole photo) found 53; the
    # cascade finds 56 (4 more at the photo's edges, 1 dark 37 px face fewer). The misses
    # are mostly 24-28 px faces cut by the photo's edge and in the out-of-focus photo.
    "camera_12mp": 56 / 64,
}
#: Most false positives allowed: one on 31 face-free photos (a capacitor scored 0.52); three
#: on the same photos enlarged 2x (coins 0.46, two spots on the circuit board 0.42-0.46).
MAX_FALSE_POSITIVES: dict[str, int] = {"face_free": 1, "face_free_2x": 3}


def _samples() -> Iterator[dataset.Sample]:
    yield from dataset.real_samples()
    yield from dataset.face_free_samples()
    yield from dataset.face_free_2x_samples()
    yield from dataset.synthetic_samples()
    yield from dataset.large_samples()
    yield from dataset.camera_samples()


@pytest.fixture(scope="module")
def scores(request: pytest.FixtureRequest) -> dict[str, scoring.Score]:
    result = scoring.evaluate(lambda img: detect_faces(img, min_face=24).faces, _samples())
    report = scoring.table(result)
    misses = [f"  missed {m}" for s in result.values() for m in s.misses]
    fps = [f"  false positive {f}" for s in result.values() for f in s.fp_names]
    text = "\n".join([report, *misses, *fps])
    dataset.ROOT.joinpath(".local").mkdir(exist_ok=True)
    dataset.ROOT.joinpath(".local", "quality-report.txt").write_text(text + "\n")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\nface detection quality (min_face=24)\n" + text)
    return result


@pytest.mark.parametrize("bucket", sorted(RECALL_GATES))
def test_recall_per_bucket(scores: dict[str, scoring.Score], bucket: str) -> None:
    score = scores[bucket]
    assert score.faces > 0
    assert score.recall >= RECALL_GATES[bucket] - 1e-9, (bucket, score.recall, score.misses)


def test_false_positives(scores: dict[str, scoring.Score]) -> None:
    for bucket, score in scores.items():
        allowed = MAX_FALSE_POSITIVES.get(bucket, 0)
        assert score.false_positives <= allowed, (bucket, score.fp_names)
    assert scores["face_free"].images == len(dataset.FACE_FREE)
    assert scores["face_free_2x"].images == len(dataset.FACE_FREE)


def test_every_bucket_is_gated(scores: dict[str, scoring.Score]) -> None:
    assert set(scores) == {*RECALL_GATES, *MAX_FALSE_POSITIVES}
