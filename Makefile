# rs-embed-qgis: every target does its own setup (idempotent).
SHELL := /bin/bash
PY := .venv/bin/python
export QT_QPA_PLATFORM ?= offscreen
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: setup demo test test-engine test-desktop test-plugin test-slow package install-plugin bench screenshot clean

setup:
	@bash scripts/setup.sh

## The main job on the bundled sample: the Processing algorithm, headless, via qgis_process.
demo: setup
	@bash scripts/demo.sh

## All tests: lint and security scans, engine tests in a process where qgis cannot be imported,
## the release zip in the real QGIS desktop, then plugin tests in headless QGIS.
test: setup
	@bash scripts/run_tests.sh

test-engine: setup
	@bash scripts/run_tests.sh engine

## The release zip in the real QGIS desktop (Xvfb), on QGIS's own Python (tests/desktop).
test-desktop: setup
	@bash scripts/run_tests.sh desktop

test-plugin: setup
	@bash scripts/run_tests.sh plugin

test-slow: setup
	@$(PY) -m pytest tests -m slow -q

## The release: dist/rs_embed_qgis.<version>.zip (checked as plugins.qgis.org checks uploads) and
## dist/plugins.xml for a custom plugin repository (REPO_URL=<where the zip is served>).
package: setup
	@$(PY) scripts/package.py $(if $(REPO_URL),--repo-url $(REPO_URL))

## Install that zip into the default QGIS profile (or QGIS_PROFILE_DIR).
install-plugin: package
	@$(PY) scripts/package.py --install

## Every benchmark to the end, even after one fails; one JSON line per figure in out/bench/
## (all sharing one run id); the failed ones are listed at the end and make the target fail.
bench: setup
	@export RS_EMBED_BENCH_RUN=$${RS_EMBED_BENCH_RUN:-$$(date +%Y%m%dT%H%M%S)}; failed=""; \
	for b in benchmarks/bench_*.py; do \
		echo "== $$b"; PYTHONPATH=. $(PY) $$b || { echo "!! $$b failed (exit $$?)"; failed="$$failed $$b"; }; \
	done; \
	echo "== figures of run $$RS_EMBED_BENCH_RUN in out/bench/*.jsonl"; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

screenshot: setup
	@bash scripts/screenshot.sh

clean:
	rm -rf build dist out
