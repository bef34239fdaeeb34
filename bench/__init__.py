"""Benchmarks: `python -m bench` (see bench/run.py). Not tests: they print measured ratios."""
