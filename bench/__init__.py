"""Benchmarks and load tests for upstack; see bench/README.md."""
