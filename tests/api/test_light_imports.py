"""The upload function validates operations without loading OpenCV or numpy.

Its requirements leave both out (it never touches pixels); the deploy smoke test serves the staged
folder from those requirements alone, and this test says why that works.
"""

from __future__ import annotations

import subprocess
import sys

from devstack.stack import ROOT


def test_upload_api_imports_no_image_libraries() -> None:
    code = (
        "import sys, main, imaging; "
        "imaging.validate_ops(['grayscale', 'mosaic_faces']); "
        "imaging.Options.from_mapping({'format': 'png'}); "
        "heavy = sorted({'cv2', 'numpy'} & set(sys.modules)); "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "functions" / "upload",
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_catalog_names_are_the_operations_table() -> None:
    import imaging
    from imaging.catalog import OPERATION_NAMES

    assert tuple(imaging.OPERATIONS) == OPERATION_NAMES
