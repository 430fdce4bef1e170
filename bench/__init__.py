"""The benchmark: bench/generate.py fills a database, bench/run.py measures (docs/benchmarks.md)."""
