"""Benchmarks: ``python -m benchmarks.NAME``; each prints one JSON object of figures last."""
