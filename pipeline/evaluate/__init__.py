"""Benchmarks on labelled collections (LFW verification and identification, clusters against
labels) and synthetic collections at scales no photo collection here reaches."""
