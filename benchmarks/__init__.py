"""Benchmark commands: each prints one JSON object of measured figures."""
