# gazokako: `make dev` starts the whole local stack, `make check` is the fast loop (lint, types and
# every test that needs no emulator, browser or tool download), `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements/dev.txt functions/upload/requirements.txt functions/process/requirements.txt

.PHONY: dev check test lint venv clean browser stage checkov-venv test-imaging-312 bench sample

# The venv is rebuilt only when a requirements file changes, so a second run is quick.
$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

venv: $(STAMP)
	@$(PY) -m imaging.models fetch >/dev/null

dev: venv
	$(PY) -m devstack up

# A photo with one face for the README's walk-through, at .local/photo.jpg: Grace Hopper's
# portrait from Debian's facedetect package (as the tests get it; no venv needed).
sample: .local/photo.jpg

.local/photo.jpg:
	@$(PYTHON) scripts/fetch_test_images.py --sample $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy imaging gazokako devstack
	$(VENV)/bin/mypy functions/upload/main.py
	$(VENV)/bin/mypy functions/process/main.py

# The fast tier: what `make check` runs. The markers are set in tests/conftest.py (by fixture and
# folder) and listed in pyproject.toml.
FAST_TIER := not stack and not browser and not deploy and not slow

check: lint
	$(PY) -m pytest -q -m "$(FAST_TIER)"
	node --test tests/js/

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
browser:
	bash scripts/install-browser.sh

# Everything: lint and types, then the whole suite on 3.11, then imaging again on 3.12 (the
# deployed runtime).
test: lint browser
	$(PY) -m pytest
	node --test tests/js/
	$(MAKE) --no-print-directory test-imaging-312

# Deployable folders build/upload and build/process (what Cloud Build and Terraform ship).
stage: venv
	$(PY) scripts/stage.py all

# checkov gets its own venv: its pinned lark/python-hcl2 clash with the main venv's.
CHECKOV_STAMP := .venv-checkov/.installed
$(CHECKOV_STAMP): requirements/checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP)

# imaging on the deployed runtime's Python (3.12), in its own venv from the process
# function's requirements plus the test tools pinned in requirements/dev.txt.
PYTHON312 ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1)
VENV312 := .venv-py312
$(VENV312)/.installed: functions/process/requirements.txt requirements/dev.txt
	@test -x $(VENV312)/bin/python || $(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install --quiet --disable-pip-version-check -r functions/process/requirements.txt -c requirements/dev.txt pytest hypothesis pillow pillow-heif
	@touch $@

test-imaging-312: venv $(VENV312)/.installed
	$(VENV312)/bin/python -m pytest -q -p no:cacheprovider --noconftest tests/imaging

# Imaging benchmark: writes bench/RESULTS.md (not a test; takes several minutes).
bench: venv
	$(PY) -m bench.imaging_bench

clean:
	rm -rf $(VENV) .venv-checkov build .local

# Hashed lock files of both functions (functions/<name>/requirements.lock), which staging ships
# and the Cloud Functions build installs with --require-hashes. Rerun after changing a
# function's requirements.txt; needs PyPI. uv lives in its own venv, installed by hash.
LOCK_VENV := .venv-lock
$(LOCK_VENV)/.installed: requirements/lock-tools.txt
	@test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock-tools.txt
	@touch $@

.PHONY: lock
lock: $(LOCK_VENV)/.installed
	$(LOCK_VENV)/bin/python scripts/lock.py
