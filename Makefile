# make book   build the site (execution off: it shows the outputs stored in the notebooks); at a desktop,
#             then serve it and open it in the browser, as make serve does
# make serve  serve the built site on http://127.0.0.1:$(PORT)/ (the Play page runs only over http, not file://)
# make test   every check CI runs: lint, unit tests, nbval on every notebook, the strict book build, the browser test
# make lint   ruff, and vermin: no file needs a newer Python than pyproject.toml's requires-python
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
# What make serve serves (where make book builds the site, or e.g. HTML=/tmp/site), and on which port of
# 127.0.0.1 (book/play.md's file:// message names 8000, the default)
HTML ?= _build/html
PORT ?= 8000
SITE_URL = http://127.0.0.1:$(PORT)/
# Python for make serve, which needs only the standard library (and so no make setup)
SERVE_PY := $(or $(wildcard $(PY)),python3)
# The oldest Python the package supports, from pyproject.toml's requires-python (ruff's target-version
# says the same): make lint's vermin checks that no file in PYTHON_DIRS needs a newer one
MIN_PYTHON := $(shell sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' pyproject.toml)
PYTHON_DIRS := rssm tests tests_browser scripts benchmarks _ext

.PHONY: help setup book serve lint test

help:
	@echo "make book   build the book into _build/html; at a desktop, serve it and open it (as make serve)"
	@echo "make serve  serve $(HTML) on http://127.0.0.1:$(PORT)/ (make serve PORT=8001 for another port)"
	@echo "make test   lint, unit tests, nbval on every notebook, strict book build, browser test"
	@echo "make lint   ruff check, and vermin: nothing needs a Python newer than $(MIN_PYTHON)"
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
	@echo "The book is built in $(HTML). Read it at $(SITE_URL) (make serve): the Play page runs only over http, not from file://"
	@# At a desktop (not CI, a display, a terminal), serve it now and open the browser; elsewhere just build.
	@if [ -z "$${CI:-}" ] && [ -t 1 ] && { [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ] || [ "$$(uname)" = Darwin ]; }; then \
		$(MAKE) --no-print-directory serve OPEN=1 || true; \
	fi

# The built site on 127.0.0.1 only, until Ctrl-C. OPEN=1 (make book sets it) also opens the browser on it.
serve:
	@if [ ! -f $(HTML)/index.html ]; then echo "no built book in $(HTML): run make book first"; exit 1; fi
	@$(SERVE_PY) -c "import socket; s = socket.socket(); \
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', $(PORT)))" 2>/dev/null \
		|| { echo "port $(PORT) of 127.0.0.1 is in use: if make serve runs there, open $(SITE_URL); else make serve PORT=8001"; exit 1; }
	@echo "Serving the book on $(SITE_URL) (the Play page: $(SITE_URL)book/play.html); Ctrl-C stops"
	@if [ -n "$(OPEN)" ]; then (sleep 1; $(SERVE_PY) -m webbrowser -t "$(SITE_URL)" >/dev/null || true) & fi
	@$(SERVE_PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

lint: setup
	@echo "== ruff"
	$(VENV)/bin/ruff check .
	@echo "== minimum Python $(MIN_PYTHON): vermin"
	$(VENV)/bin/vermin --target=$(MIN_PYTHON)- --violations --eval-annotations --no-tips $(PYTHON_DIRS)

test: setup lint
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
