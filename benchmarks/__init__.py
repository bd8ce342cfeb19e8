"""Benchmarks: timing and memory figures live here, never in test assertions."""
