# Two entry points (see README): `make demo` runs the Space locally, `make test` runs the test suite.
# Each creates or refreshes its own virtual environment in .venv (Python 3.11, torch 2.13.0 CPU).
# `make test-py312` runs the suite as the Space installs it (Python 3.12, the Space's torch pin) in
# its own environment, .venv/py312; it downloads PyPI's CUDA torch build, so `make test` leaves it out.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
# The ZeroGPU Python (3.12, hub-docs docs/hub/spaces-zerogpu.md); pyenv's 3.12 when there is one.
PYTHON312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
VENV312   := $(VENV)/py312
PY312     := $(VENV312)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo demo-tiny test test-fast test-py312 bench browser clean

# requirements-local.txt = requirements.txt (what the Space installs) + the `spaces` pin.
$(VENV)/.stamp-app: requirements.txt requirements-local.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-local.txt
	$(PY) -m pip check
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-app requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip check
	touch $@

# Python 3.12 environment: the markers in requirements.txt pick the Space's torch pin there;
# insightface builds from its sdist (needs a C++ compiler, as packages.txt gives the Space).
$(VENV312)/.stamp-dev: requirements.txt requirements-local.txt requirements-dev.txt
	test -x $(PY312) || $(PYTHON312) -m venv $(VENV312)
	$(PY312) -m pip install -q -r requirements-dev.txt
	$(PY312) -m pip check
	touch $@

# Headless Chromium for the browser tests (Debian package; Playwright drives /usr/bin/chromium).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: $(VENV)/.stamp-app
	$(PY) app.py

# The whole path on tiny random weights, with no download (named as such in the UI).
demo-tiny: $(VENV)/.stamp-app
	MCLD_TINY=1 HF_HUB_OFFLINE=1 $(PY) app.py

# Tests never touch the network: HF_HUB_OFFLINE=1 (the demo may download weights).
test: $(VENV)/.stamp-dev browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(VENV)/.stamp-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not browser and not slow"

# The whole suite under Python 3.12 with the Space's torch (slow; not part of `make test`).
test-py312: $(VENV312)/.stamp-dev browser
	HF_HUB_OFFLINE=1 $(PY312) -m pytest -q

# CPU-side table always; the full-size GPU table only where CUDA is present (else a tiny smoke run).
bench: $(VENV)/.stamp-dev
	$(PY) bench/bench_cpu.py
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
		$(PY) bench/bench_mcld.py; \
	else \
		echo "no CUDA device: running the tiny smoke configuration of bench_mcld.py"; \
		$(PY) bench/bench_mcld.py --tiny --device cpu --steps 2 --runs 1 --warmup 0 --size 256; \
	fi

clean:
	rm -rf $(VENV) test-output .pytest_cache
