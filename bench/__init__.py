"""Benchmarks and load tests for upstack (BLUEPRINT §I); see bench/README.md."""
