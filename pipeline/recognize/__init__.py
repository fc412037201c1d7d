"""Recognition: thresholds calibrated per model at a target false-accept rate, 1:1 verification, and
1:N identification against a gallery enrolled from as little as one photo per person."""
