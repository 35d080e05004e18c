# Two entry points (see README): `make demo` runs the Space locally, `make test` runs the test suite.
# Each creates or refreshes its own virtual environment in .venv.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo demo-tiny test test-fast bench browser clean

$(VENV)/.stamp-app: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip check
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-app requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip check
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
