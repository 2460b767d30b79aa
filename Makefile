# Two commands on a fresh machine: `make run` and `make test` (each sets everything up first).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch by default; an unpinned torch pulls a multi-GB CUDA build (docs/scale.md, GPU).
TORCH  ?= torch==2.13.0
CONFIG ?= configs/default.yaml

.PHONY: install run test test-fast smoke lint docs bench depth-study results clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

run: install
	@# train prints the run folder on its last stdout line; then measure and draw that run: the top
	@# layer's h, every state of every layer (heatmap), and layer 1's memory c, whose flat profile in
	@# the trained grid is why it solves the task. The tables go to the terminal, the file lists do not;
	@# scripts/closing.py ends with what the run showed and which figure to open
	@RUN=$$($(BIN)/gridlstm train $(CONFIG)) && RUN=$$(printf '%s\n' "$$RUN" | tail -n 1) && \
	$(BIN)/gridlstm gradcheck $$RUN --seeds 3 >/dev/null && \
	$(BIN)/gridlstm plot $$RUN --what gradients >/dev/null && \
	$(BIN)/gridlstm plot $$RUN --what heatmap >/dev/null && \
	if grep -q '^[0-9]*,[0-9]*,c,1,' $$RUN/gradients/gradients.csv; then \
	  $(BIN)/gridlstm plot $$RUN --what gradients --state c --layer 1 --out $$RUN/plots/gradients-c-layer1.png >/dev/null; fi && \
	$(BIN)/gridlstm plot $$RUN --what loss >/dev/null && \
	echo && $(BIN)/python scripts/closing.py $$RUN

# The test suite also runs the sweep on a local Ray instance: the optional ray extra.
$(VENV)/.installed-ray: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[ray]"
	touch $@

# ... and logs runs to MLflow (a SQLite store under tmp) and opens them in the MLflow UI: the optional
# mlflow and mlflow-ui extras, in one resolve (one version of mlflow and mlflow-skinny; docs/scale.md).
$(VENV)/.installed-mlflow: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[mlflow,mlflow-ui]"
	touch $@

# ... and writes TensorBoard logs, read back with tensorboard's own event reader: the tensorboard extra.
$(VENV)/.installed-tensorboard: $(VENV)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[tensorboard]"
	touch $@

test: install $(VENV)/.installed-ray $(VENV)/.installed-mlflow $(VENV)/.installed-tensorboard
	$(BIN)/python -m pytest -q

# The inner loop: everything but the tests marked slow (subprocesses, signals, sweeps, Ray).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

smoke: install
	bash scripts/smoke.sh $(BIN)/gridlstm

# ruff on everything; mypy on the library (settings: pyproject.toml [tool.mypy]); both must be clean
lint: install
	$(BIN)/ruff check gridlstm cli tests benchmarks
	$(BIN)/mypy

# The config and CLI references, docs/config.md and docs/cli.md, from the schema and every --help.
docs: install
	$(BIN)/python scripts/make_docs.py

# Gradient along depth at init, every model, D in {4, 16, 64}: depth.png + depth.md (docs/gradients.md).
depth-study: install
	$(BIN)/gridlstm study depth

# The results page: every model of every comparison of configs/studies/results.yaml trained at CPU
# scale over its seeds (JOBS at once), the depth study, and our numbers beside the published ones
# -> docs/results.md + docs/results/*.png. A stopped study: gridlstm study results --resume FOLDER.
JOBS ?= 2
results: install
	$(BIN)/gridlstm study results --page docs/results.md --jobs $(JOBS)

bench: install
	$(BIN)/python benchmarks/bench.py --loaded --write-table
	$(BIN)/python benchmarks/train_loaded.py
	$(BIN)/python benchmarks/perf_doc.py

clean:
	rm -rf $(VENV) build *.egg-info
