"""ids.py is the one home of the id pattern and of every object name built from an id."""

from __future__ import annotations

import re
from pathlib import Path

from gazokako.ids import (
    ID_PATTERN,
    api_job_of,
    drop_result_name,
    drop_result_name_fits,
    drop_result_names,
    in_api_folder,
    is_job_id,
    new_job_id,
    owned_by,
    redact,
    reserved_drop_name,
    result_metadata,
    result_object_name,
    result_source_generation,
    results_prefix,
    source_object_name,
    uploads_prefix,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_contract_states_the_id_pattern_ids_checks() -> None:
    openapi = (ROOT / "api" / "openapi.yaml").read_text()
    assert f'pattern: "{ID_PATTERN}"' in openapi
    ids = [new_job_id() for _ in range(50)]
    assert all(re.fullmatch(ID_PATTERN, i) and is_job_id(i) for i in ids)
    assert not is_job_id(ids[0][:-1]) and not is_job_id(ids[0] + "A")
    assert not is_job_id(ids[0][:-1] + "/")


def test_object_names_of_a_job() -> None:
    job_id = new_job_id()
    source = source_object_name(job_id)
    assert source == f"u/{job_id}/source" and source.startswith(uploads_prefix(job_id))
    assert api_job_of(source) == job_id and in_api_folder(source)
    assert api_job_of(f"u/{job_id}/other") is None and in_api_folder(f"u/{job_id}/other")
    assert api_job_of(f"inbox/{job_id}.png") is None and not in_api_folder("inbox/x.png")
    result = result_object_name(job_id, 17, "jpeg")
    assert result == f"r/{job_id}/17.jpg"
    assert result.startswith(results_prefix(job_id, 17)) and result.startswith(
        results_prefix(job_id)
    )
    # One generation's prefix does not take in another's (17 vs 170).
    assert not result_object_name(job_id, 170, "png").startswith(results_prefix(job_id, 17))


def test_redact_hides_an_id_wherever_it_is() -> None:
    job_id = new_job_id()
    for text in (job_id, source_object_name(job_id), f"u%2F{job_id}%2Fsource", f"no {job_id}!"):
        assert job_id not in redact(text) and "<redacted>" in redact(text)


def test_drop_result_names_follow_the_drop() -> None:
    assert drop_result_name("inbox/photo.jpg", "jpeg") == "inbox/photo.jpg.jpg"
    assert drop_result_name("inbox/photo.png", "jpeg") == "inbox/photo.png.jpg"
    assert drop_result_name("inbox/photo", "webp") == "inbox/photo.webp"
    assert drop_result_names("a/b") == ("a/b.jpg", "a/b.png", "a/b.webp")
    # Injective: the extension added never holds a dot, so cutting at the last dot gives the
    # drop back, and two drops never share a result name whatever their extensions.
    drops = ["x", "x.jpg", "x.png", "x.jpg.jpg", "x.", ".jpg", "d/x.jpg", "d.jpg/x"]
    names = [drop_result_name(d, f) for d in drops for f in ("jpeg", "png", "webp")]
    assert len(names) == len(set(names))
    assert all(n.rsplit(".", 1)[0] in drops for n in names)
    assert reserved_drop_name("r/abc/1.jpg") and not reserved_drop_name("inbox/r/x.jpg")
    assert drop_result_name_fits("a" * 1019) and not drop_result_name_fits("a" * 1020)
    # A drop whose result names would be too long has none to look up or delete (storage
    # refuses such a name even in a read); the drop itself fails with name_too_long.
    assert drop_result_names("a" * 1020) == ()
    assert drop_result_name_fits("é" * 509) and not drop_result_name_fits("é" * 510)


def test_result_metadata_links_back() -> None:
    job_id = new_job_id()
    meta = result_metadata(job_id, 17, 2)
    assert meta == {
        "gazokako-job": job_id,
        "gazokako-source-generation": "17",
        "gazokako-faces": "2",
    }
    assert owned_by(meta, job_id) and not owned_by(meta, new_job_id()) and not owned_by(None, "")
    assert result_source_generation(meta) == 17
    assert result_source_generation(None) == result_source_generation({"x": "y"}) == 0
    assert result_source_generation({"gazokako-source-generation": "junk"}) == 0
