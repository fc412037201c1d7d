"""Models: the registry that resolves them once, detectors, alignment, embedders and their engines."""
