"""Benchmarks: each prints a table and appends a dated section to bench/RESULTS.md. Numbers, not pass/fail."""
