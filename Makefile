# Haul: `make run` starts it, `make test` runs the whole suite. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench bench-history-1m system-deps-test clean help

help:
	@echo "make run    - install into .venv, migrate, start web + worker on http://127.0.0.1:8080"
	@echo "make test   - install test requirements (ffmpeg, chromium and nginx via apt-get) and run the whole suite,"
	@echo "              then the end-to-end tests again on PostgreSQL + Redis (both must run on this machine)"
	@echo "make bench  - the benchmark (not part of make test)"

# The venv; Debian/Ubuntu ship venv support as a separate package, installed when missing.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Haul needs Python 3.11 or newer"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv is missing; installing it with apt-get"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.requirements-dev: requirements-dev.txt $(VENV)/.requirements
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

run: $(VENV)/.requirements
	@command -v ffmpeg >/dev/null || echo "note: ffmpeg is not installed; yt-dlp needs it to merge separate video and audio streams"
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi serve

# What the tests need from the system: ffmpeg makes the test site's media; Debian's chromium
# runs the browser tests (Playwright drives /usr/bin/chromium; `playwright install` is never used);
# nginx stands in front of Haul as the documented reverse proxy (tests/support/reverse_proxy.py).
system-deps-test:
	@command -v ffmpeg >/dev/null || { \
	  echo "installing ffmpeg with apt-get"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q ffmpeg; }
	@[ -x /usr/bin/chromium ] || { \
	  echo "installing chromium with apt-get (for the browser tests)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	@[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || { \
	  echo "installing nginx with apt-get (the tests put docs/deploy/nginx.conf in front of Haul)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends nginx; }

# The test files run on two processes (pytest-xdist; a file's tests stay together, as they share
# module-scoped live stacks): the whole suite in ~17 min instead of ~32 on a 2-core box, most of
# it end-to-end tests waiting on downloads. PYTEST_ARGS= runs it serially.
# Then the end-to-end files run a second time with every live stack on PostgreSQL + Redis
# (--scale-out, tests/support/scale_out.py), which must answer on 127.0.0.1:5432 (trust auth,
# database test) and 127.0.0.1:6379: checked first, with how to start them when they don't.
# Both runs always run; make fails if either did.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: $(VENV)/.requirements-dev system-deps-test
	@cd tests && ../$(BIN)/python -m support.scale_out
	$(BIN)/python -m pytest $(PYTEST_ARGS); embedded=$$?; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) --scale-out; scale_out=$$?; \
	echo "make test: embedded run exit $$embedded, scale-out run exit $$scale_out"; \
	[ $$embedded -eq 0 ] && [ $$scale_out -eq 0 ]

# Downloads, submit latency, memory and the 100,000-job history (benchmark.py), then the
# machine API under load (bench_api.py; on 1/2/4 PostgreSQL web processes and with 5,000 SSE clients:
# bench_scale_out_api.py, which uses wrk when installed), a 1,000-item collection and 200 due subscriptions
# (bench_collections.py), a library rescan of 20,000 files (bench_library.py), the scale-out
# figures (bench_scale_out.py: 50 links on both setups, a 1 GiB file, 1 vs 2 worker hosts, memory)
# and Redis against LISTEN/NOTIFY wake-ups (bench_event_wakeups.py). Each prints its figures
# beside a baseline of the same run. The history at 1,000,000 jobs on both databases takes
# ~25 min to build: `make bench-history-1m`.
bench: $(VENV)/.requirements-dev system-deps-test
	$(BIN)/python tests/bench/benchmark.py
	$(BIN)/python tests/bench/bench_api.py
	$(BIN)/python tests/bench/bench_scale_out_api.py
	$(BIN)/python tests/bench/bench_collections.py
	$(BIN)/python tests/bench/bench_library.py
	$(BIN)/python tests/bench/bench_scale_out.py
	$(BIN)/python tests/bench/bench_event_wakeups.py

bench-history-1m: $(VENV)/.requirements-dev
	$(BIN)/python tests/bench/bench_history.py --jobs 1000000 --files 3000000 --requests 30 \
	  --database both --fast-sqlite --target-ms 50

clean:
	rm -rf $(VENV) .pytest_cache tests/.assets
