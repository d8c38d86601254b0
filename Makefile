# The two commands of the README: `make demo` and `make test`. Everything else is set-up.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Element's own SDK (matrix-js-sdk, pinned in tests/js) for tests/e2e/test_element.py; npm keeps
# this file up to date with what it installed.
JS     := tests/js
JS_OK  := $(JS)/node_modules/.package-lock.json

.PHONY: demo test test-fast lint bench bench-calendar bench-redundancy bench-scale browser clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(JS_OK): $(JS)/package.json $(wildcard $(JS)/package-lock.json)
	@command -v npm >/dev/null 2>&1 || { echo "need node (v20+) and npm on PATH for the Element SDK test"; exit 1; }
	if [ -f $(JS)/package-lock.json ]; then npm ci --prefix $(JS) --no-audit --no-fund; \
	else npm install --prefix $(JS) --no-audit --no-fund; fi
	touch $@

# Chromium from the system's packages for the public calendar page test (tests/e2e/test_calendar_page.py);
# installed only when no Chromium is on PATH (apt-get, through sudo unless already root).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(VENV)/bin/affinity demo --dir .demo

# The fast tiers first (they fail in minutes), then the end-to-end tier against real Synapses.
test: $(STAMP) $(JS_OK) browser
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/bot
	$(PY) -m pytest -q -p no:cacheprovider --durations=15 tests/e2e

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/bot

# Coalitions without a center, the longer fault runs (SIGSTOP, cancel at T - 1 s): three Synapses.
test-redundancy: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/redundancy_faults.py

# The day of action end to end on two federating Synapses (the stand-in herald and the real one,
# sharing one pair of servers); also part of make test.
test-dayofaction: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_dayofaction.py

# ruff (rules in pyproject.toml) and mypy over the whole tree; CI runs this before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check bots protocols storage tests bench
	$(VENV)/bin/ruff format --check bots protocols storage tests bench
	$(VENV)/bin/mypy bots protocols storage tests/bot/fakes.py

bench: $(STAMP)
	$(PY) bench/ping_roundtrip.py

# The public calendar: feed and page for 1,000 events, p95 latency, requests/s, memory over 10,000 requests.
bench-calendar: $(STAMP)
	$(PY) bench/calendar_serve.py

# Coalitions without a center: a call-out to N member rooms with one herald, then with k (each its own
# process on its own federating Synapse): the ratios and the copies per room. ROOMS=200 HERALDS=3 for more.
bench-redundancy: $(STAMP)
	$(PY) bench/redundancy.py --rooms $(or $(ROOMS),20) --heralds $(or $(HERALDS),2)

# A thousand rooms (issue 18): restarts, a phase to 1,000 plain and 1,000 encrypted rooms, the
# appservice mode. Builds its fixture once (minutes) in bench/scale/.fixture-1000; ROOMS=300 for less.
bench-scale: $(STAMP)
	$(PY) bench/scale/scale.py --rooms $(or $(ROOMS),1000)

clean:
	rm -rf $(VENV) .demo .pytest_cache $(JS)/node_modules
