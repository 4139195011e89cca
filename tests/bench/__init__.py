"""The benchmark harness behind `make bench` (never part of `make test`): downloads, submit
latency and memory (benchmark.py), the machine API under load (bench_api.py), the history page
at 100,000 jobs (bench_history.py). Each file runs as a script; see docs/benchmarks.md."""
