# paperzoo: the front door. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv runs everything; if it is missing, install it with pip rather than fail.
# (A system Python that refuses pip installs, PEP 668, gets it in the user site instead.)
UV := $(or $(shell command -v uv 2>/dev/null),$(shell (python3 -m pip install -q uv || python3 -m pip install -q --user --break-system-packages uv) >&2 && python3 -c 'import uv; print(uv.find_uv_bin())'))
# uv cannot download interpreters here: use the system Python 3.11 (.python-version).
export UV_PYTHON_DOWNLOADS := never
# Installs write bytecode: with PYTHONDONTWRITEBYTECODE set (as on our machines) every process would otherwise
# recompile torch, transformers and jax from source at import (~4 s of CPU per process that imports torch).
export UV_COMPILE_BYTECODE := 1
RUN := $(UV) run --locked
PAPERS ?=
module = $(subst -,_,$(1))

.PHONY: help sync test lint bench-smoke bench-full baseline report rederive new-paper

help: ## list the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'

sync: ## install the whole locked workspace (every paper) into .venv
	$(UV) sync --all-packages --locked

test: ## every test of every package, in parallel on 2 cores
	$(RUN) --all-packages pytest

paper-%: ## the full CPU-scale reproduction of one paper (installs just its dependencies), e.g. make paper-adabelief
	$(RUN) --package paperzoo-$* python -m paperzoo.$(call module,$*) --scale full --out runs

smoke-%: ## the seconds-long smoke run of one paper
	$(RUN) --package paperzoo-$* python -m paperzoo.$(call module,$*) --scale smoke --out runs

verify-%: ## re-run one paper's full scale into runs/verify and say whether this machine reproduces its committed results
	$(RUN) --all-packages paperzoo verify --papers $*

perf-%: ## the speed figures of one paper, as ratios against a baseline in the same process
	$(RUN) --package paperzoo-$* python -m paperzoo.$(call module,$*) --perf --out runs

bench-smoke: ## every paper at smoke scale through the harness, held to its baseline and smoke claims
	$(RUN) --all-packages paperzoo bench --scale smoke

bench-full: ## full scale through the harness; writes benchmarks/results/ and the README table (PAPERS=...)
	$(RUN) --all-packages paperzoo bench --scale full $(if $(PAPERS),--papers $(PAPERS))

baseline: ## re-record smoke baselines (the only way a baseline changes), PAPERS=... required
	@test -n "$(PAPERS)" || { echo "usage: make baseline PAPERS='slug ...'" >&2; exit 2; }
	$(RUN) --all-packages paperzoo baseline --papers $(PAPERS)

report: ## regenerate the README table and each paper's results block from the committed results
	$(RUN) --all-packages paperzoo report

rederive: ## re-derive committed full-scale verdicts from their seed records, nothing re-run (PAPERS=... or all)
	$(RUN) --all-packages paperzoo rederive $(if $(PAPERS),--papers $(PAPERS))

lint: ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

new-paper: ## scaffold papers/$(SLUG) that passes the conformance tests, e.g. make new-paper SLUG=adan
	@test -n "$(SLUG)" || { echo "usage: make new-paper SLUG=slug [FRAMEWORK=torch|jax|tensorflow]" >&2; exit 2; }
	$(RUN) paperzoo new-paper $(SLUG) --framework $(or $(FRAMEWORK),torch)
	$(UV) lock
	$(UV) sync --all-packages --locked
