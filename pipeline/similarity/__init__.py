"""Similarity thresholds: models' FAR curves (shipped or calibrated) and the one service every threshold comes from."""
