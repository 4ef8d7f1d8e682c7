# The two commands of the README, and the benchmarks. Everything installs into .venv.
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The suite's parallel workers: about half of each one's time is a wait on a real server or
# clock. With the long files first, four keep two cores busier than three (331 s against
# 375 s on the 2-core VM, 2026-12-08); each has its own PostgreSQL database (tests/conftest.py).
TEST_WORKERS ?= 4

.PHONY: run run-deployed test lint bench bench-wallet bench-wallet-hostile bench-board bench-board-idle bench-relay bench-soak bench-snapshot bench-burst bench-stop-burst

run: $(VENV)/.run
	$(VENV)/bin/flask --app app db upgrade
	bin/run

# The deployed shape on this machine: Redis, two web workers, the feed process and a standby.
run-deployed: $(VENV)/.dev
	bin/run-deployed

test: $(VENV)/.dev
	bin/services
	bin/chromium
	bin/promtool
	bin/axe
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# Bytecode is cached for the run even where the environment says not to: ~150 processes
	# start from the same modules, and every worker imports every test module. The workers
	# take whole files in the order tests/conftest.py puts them (long ones first), not
	# pytest-xdist's (the files with the most tests first).
	CI=$${CI:-} PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: bench-wallet bench-wallet-hostile bench-board bench-board-idle bench-relay

bench-wallet: $(VENV)/.dev
	bin/services
	$(PY) -m bench.wallet

bench-wallet-hostile: $(VENV)/.dev
	bin/services
	$(PY) -m bench.hostile

bench-relay: $(VENV)/.dev
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(PY) -m bench.relay

# A BetStop behind a backlog and behind a huge frame, against one alone (BURST_ARGS: --help;
# "--shape deployed" for the feed process and two workers over Redis, as below).
bench-burst: $(VENV)/.dev
	bin/services
	$(PY) -m bench.burst $(BURST_ARGS)

# Ten minutes by default; SOAK_ARGS="--minutes 1" for a short run (python -m bench.soak --help).
bench-soak: $(VENV)/.dev
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(PY) -m bench.soak $(SOAK_ARGS)

# Boards that never read, on a large snapshot: what they cost the worker's memory.
bench-snapshot: $(VENV)/.dev
	bin/services
	$(PY) -m bench.snapshot $(SNAPSHOT_ARGS)

# A burst of 10,000 BetStops to 20 boards: none dropped, each current (python -m bench.stop_burst --help).
bench-stop-burst: $(VENV)/.dev
	bin/services
	$(PY) -m bench.stop_burst $(STOP_BURST_ARGS)

bench-board: $(VENV)/.dev
	bin/chromium
	$(PY) -m bench.board

bench-board-idle: $(VENV)/.dev
	bin/chromium
	$(PY) -m bench.board --idle

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run
