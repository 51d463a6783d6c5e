"""Benchmarks: where a run's time and memory go, each figure a ratio of two things measured side by side.

`python -m bench` runs them all, prints a table and writes `bench/results.json`; BENCHMARKS.md holds
the latest figures. Benchmarks are never asserted on: they print figures, tests check behaviour.
"""
