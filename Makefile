# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv test lint demo bench clean

# What the sidecar and the demo run, then the test toolchain on top (`make demo` needs only the first).
$(BIN)/luigi-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/luigi-exporter
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.test-deps

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The real-log corpus is read from ../shared/corpus or $$LUIGI_EXPORTER_CORPUS; without it its tests are left out
# (one line says so), except with CI=true, where they fail.
test: venv lint
	$(BIN)/pytest -q

# Issue 8's benchmarks (not part of `make test`; mtail from Debian's package): table on stdout and in
# benchmarks/results.md, figures put into README.md and benchmarks/README.md. About 5 minutes on 2 CPUs.
bench: venv
	BENCH_COMMAND="make bench" $(BIN)/python -m benchmarks --readme README.md --readme benchmarks/README.md

# The real 61-task demo (4 workers, SWOTAnalysisTask fails on purpose) under the sidecar: live progress on the
# terminal (plain lines without one), the live page while it runs, and an HTML report at the end. Exit code 1 is
# the planned failure.
DEMO_DIR ?= /tmp/luigi-exporter-demo
DEMO_LISTEN ?= 127.0.0.1:9588
demo: $(BIN)/luigi-exporter
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/luigi-exporter run --run-id PlanExe_demo --view --listen $(DEMO_LISTEN) --state-dir $(DEMO_DIR)/state \
		--output $(DEMO_DIR)/output.log --report $(DEMO_DIR)/report.html -- \
		$(BIN)/python -m exporter.demo --run-dir $(DEMO_DIR)/runs/PlanExe_demo --workers 4 --fail SWOTAnalysisTask --speed 0.6 \
		|| [ $$? -eq 1 ]
	@echo
	$(BIN)/luigi-exporter replay $(DEMO_DIR)/runs/PlanExe_demo/log.txt
	@echo
	@echo "report:    $(DEMO_DIR)/report.html"
	@echo "log:       $(DEMO_DIR)/runs/PlanExe_demo/log.txt"
	@echo "store:     $(DEMO_DIR)/state (luigi-exporter status --state-dir $(DEMO_DIR)/state)"
	@echo "live page: closed with the build; serve it again with luigi-exporter watch '$(DEMO_DIR)/runs/*/log.txt'"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
