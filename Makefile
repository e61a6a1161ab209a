# hap_mm: two commands.
#   make demo   set up .venv if needed, pre-train HAP on the demo crops (CPU),
#               show where the checkpoint, logs and pictures went
#   make test   set up .venv if needed, run the whole test suite
# HAP_MM_VENV=/path/to/venv overrides the environment location.
VENV ?= $(if $(HAP_MM_VENV),$(HAP_MM_VENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
WORK_DIR ?= work_dirs/hap_demo
PYTEST_ARGS ?=

.PHONY: venv demo test lint clean

venv:
	@bash tools/env/setup_venv.sh "$(VENV)"

demo: venv
	@bash tools/demo.sh "$(PY)" "$(WORK_DIR)"

# pytest exits non-zero when a test fails and (5) when no test ran.
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check hap_mm tools tests configs

clean:
	rm -rf work_dirs
