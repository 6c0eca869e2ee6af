# make book   build the site (execution off: it shows the outputs stored in the notebooks) and open it
# make test   every check CI runs: unit tests, nbval on every notebook, the strict book build, the browser test
# make setup  create .venv and install the package with its dev tools, and ONNX Runtime Web with npm
#             (the other targets call it)
#
# Everything runs through .venv/bin/..., so no activation is needed.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The torch wheel installed first. On the project's machines it is the CPU build of torch 2.13.0 that
# pip finds on the machine's disk (pip's find-links). Elsewhere any torch >= 2.1 works: install the
# build you want (CPU, CUDA, MPS) into .venv first, or run e.g. `make setup TORCH_SPEC="torch>=2.1"`.
TORCH_SPEC ?= torch==2.13.0
# Written once the dev install succeeded; redone when pyproject.toml changes.
STAMP := $(VENV)/.rssm-book-installed
# ONNX Runtime Web for the Play page (book/play.md), from the npm registry at the version package-lock.json
# pins; npm writes this file on every install, so it is redone when package.json or the lock changes.
NODE_STAMP := node_modules/.package-lock.json
NOTEBOOKS := $(wildcard book/*.ipynb)

.PHONY: help setup book test

help:
	@echo "make book   build the book into _build/html and open it"
	@echo "make test   unit tests, nbval on every notebook, strict book build, browser test"
	@echo "make setup  create .venv and install rssm with its dev tools; npm ci (ONNX Runtime Web)"

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
		PYTHON=$$(command -v python3.11 || command -v python3); \
		echo "creating $(VENV) with $$PYTHON"; \
		"$$PYTHON" -m venv $(VENV); \
	fi
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
		echo "installing $(TORCH_SPEC)"; \
		$(PY) -m pip install "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install -e ".[dev]"
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the Play page needs Node.js and npm to fetch ONNX Runtime Web (npm ci)"; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts

book: setup
	$(VENV)/bin/jupyter-book build .
	@echo "The book is at $(CURDIR)/_build/html/index.html"
	@if [ -z "$${CI:-}" ] && { [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ] || [ "$$(uname)" = Darwin ]; }; then \
		$(PY) -m webbrowser -t "file://$(CURDIR)/_build/html/index.html" || true; \
	fi

test: setup
	@echo "== unit tests"
	$(VENV)/bin/pytest tests
	@echo "== notebooks: stored outputs must reproduce (nbval)"
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks in book/"; exit 1; fi
	$(VENV)/bin/pytest --nbval --nbval-current-env $(NOTEBOOKS) --nbval-sanitize-with book/nbval_sanitize.cfg
	@echo "== book build, warnings as errors"
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "== browser tests of the built site"
	bash scripts/ensure_browser.sh
	$(VENV)/bin/pytest tests_browser
