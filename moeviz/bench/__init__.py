"""Benchmarks (`python -m moeviz.bench <name>`): each prints a table and writes JSON. Not timed tests."""
