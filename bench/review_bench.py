"""Re-render time of a review revision against the codec floor (``python -m bench.review_bench``).

A revision (POST /jobs/{id}/revisions) renders the result again from the source with the boxes a
person gave, without detection, so it should cost about a codec floor. Each size runs the
imaging benchmark's `codec_floor` and `apply_boxes` variants (bench/imaging_bench.py: a fresh
subprocess each, median of `--repeat` calls after warm-up) one after the other, then writes the
`apply_boxes` rows into bench/RESULTS.md's table (replacing earlier ones), with the ratio to the
floor measured in this run, and a row from one process calling both alternately (the ratio a
shared machine's load cannot tilt).

Usage: python -m bench.review_bench [--sizes 12] [--repeat 5] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.imaging_bench import ROOT, SIZES, _variant, make_photo, measure

ROW_NAME = "apply_boxes"


def review_row(mp: int, repeat: int) -> tuple[str, float, float]:
    """The table row of one size, and the medians (seconds) of the revision and the floor."""
    path, labels = make_photo(mp)
    floor = measure("codec_floor", path, repeat)
    revision = measure(ROW_NAME, path, repeat)
    w, h = SIZES[mp]
    decoded_kib = w * h * 3 / 1024
    found = f"{revision['found']:.0f}/{revision['labelled']:.0f}" if "found" in revision else ""
    row = (
        f"| {mp} MP | {ROW_NAME} | {revision['median'] * 1000:.0f} "
        f"| {revision['median'] / floor['median']:.2f}x | "
        f"| {revision['peak_kib'] / 1024:.0f} | {revision['peak_kib'] / decoded_kib:.2f}x "
        f"| {revision['first_peak_kib'] / decoded_kib:.2f}x | {found} |"
    )
    assert len(labels) == 10
    return row, revision["median"], floor["median"]


def interleaved(mp: int, rounds: int) -> tuple[str, float, float]:
    """The revision's ratio to the floor from one process calling both alternately (after one
    unmeasured round), so the load of a shared machine falls on both alike."""
    path, labels = make_photo(mp)
    data = path.read_bytes()
    floor, revision = _variant("codec_floor"), _variant(ROW_NAME, str(path.with_suffix(".json")))
    times: dict[str, list[float]] = {"floor": [], "revision": []}
    for k in range(rounds + 1):
        for name, fn in (("floor", floor), ("revision", revision)):
            t = time.perf_counter()
            fn(data)
            if k:
                times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    assert len(labels) == 10
    row = (
        f"| {mp} MP | {ROW_NAME} over the codec floor, interleaved "
        f"| {med['revision'] / med['floor']:.2f}x | revision {med['revision'] * 1000:.0f} ms "
        f"| floor {med['floor'] * 1000:.0f} ms | | | | |"
    )
    return row, med["revision"], med["floor"]


def place(table: str, mp: int, row: str) -> str:
    """`table` with the size's apply_boxes row replaced, or put right after its mosaic_faces
    row (its codec_floor row when there is none)."""
    name = row.split(" | ")[1]
    lines = [ln for ln in table.splitlines() if not ln.startswith(f"| {mp} MP | {name} |")]
    anchor = next(
        (i for i, ln in enumerate(lines) if ln.startswith(f"| {mp} MP | mosaic_faces |")),
        next(i for i, ln in enumerate(lines) if ln.startswith(f"| {mp} MP | codec_floor |")),
    )
    lines.insert(anchor + 1, row)
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="12")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = p.parse_args()
    text = args.out.read_text()
    for mp in (int(s) for s in args.sizes.split(",")):
        row, revision, floor = review_row(mp, args.repeat)
        print(f"{mp} MP: revision {revision * 1000:.0f} ms, codec floor {floor * 1000:.0f} ms")
        both, revision, floor = interleaved(mp, args.repeat)
        print(
            f"{mp} MP interleaved: revision {revision * 1000:.0f} ms, floor {floor * 1000:.0f} ms"
        )
        # The interleaved row goes right after the apply_boxes row.
        text = place(place(text, mp, both), mp, row)
    args.out.write_text(text)
    print("\n".join(ln for ln in text.splitlines() if f"| {ROW_NAME}" in ln))


if __name__ == "__main__":
    main()
