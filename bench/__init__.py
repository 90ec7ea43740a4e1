"""Benchmarks, run by `make bench` (`python -m bench [module ...]`); never part of the tests.

Each `bench/bench_*.py` exposes `run(report)`. Measure against baselines taken in the same run
and report ratios (docs: BENCHMARKS.md).
"""
