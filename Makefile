# Two commands on a fresh machine: `make run` and `make test` (each sets everything up first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch that lies on this machine kind; an unpinned torch pulls a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
CONFIG ?= configs/default.yaml

.PHONY: install run test test-fast smoke lint bench depth-study results clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

run: install
	@# train prints the run folder on its last stdout line; then measure and draw that run: the top
	@# layer's h, every state of every layer (heatmap), and layer 1's memory c, whose flat profile in
	@# the trained grid is why it solves the task
	RUN=$$($(BIN)/gridlstm train $(CONFIG)) && RUN=$$(printf '%s\n' "$$RUN" | tail -n 1) && \
	$(BIN)/gridlstm gradcheck $$RUN --seeds 3 && \
	$(BIN)/gridlstm plot $$RUN --what gradients && \
	$(BIN)/gridlstm plot $$RUN --what heatmap && \
	if grep -q '^[0-9]*,[0-9]*,c,1,' $$RUN/gradients/gradients.csv; then \
	  $(BIN)/gridlstm plot $$RUN --what gradients --state c --layer 1 --out $$RUN/plots/gradients-c-layer1.png; fi && \
	$(BIN)/gridlstm plot $$RUN --what loss

# The test suite also runs the sweep on a local Ray instance: the optional ray extra.
$(VENV)/.installed-ray: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[ray]"
	touch $@

# ... and logs runs to MLflow (a SQLite store under tmp): the optional mlflow extra.
$(VENV)/.installed-mlflow: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[mlflow]"
	touch $@

test: install $(VENV)/.installed-ray $(VENV)/.installed-mlflow
	$(BIN)/python -m pytest -q

# The inner loop: everything but the tests marked slow (subprocesses, signals, sweeps, Ray).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

smoke: install
	bash scripts/smoke.sh $(BIN)/gridlstm

lint: install
	$(BIN)/ruff check gridlstm cli tests benchmarks

# Gradient along depth at init, every model, D in {4, 16, 64}: depth.png + depth.md (README).
depth-study: install
	$(BIN)/gridlstm study depth

# The results page: every model of every comparison of configs/studies/results.yaml trained at CPU
# scale over its seeds (JOBS at once), the depth study, and our numbers beside the published ones
# -> docs/results.md + docs/results/*.png. A stopped study: gridlstm study results --resume FOLDER.
JOBS ?= 2
results: install
	$(BIN)/gridlstm study results --page docs/results.md --jobs $(JOBS)

bench: install
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) build *.egg-info
