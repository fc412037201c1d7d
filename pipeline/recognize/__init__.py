"""Recognition: 1:1 verification at a target false-accept rate, and 1:N identification at a target
false-positive identification rate against a gallery enrolled from as little as one photo per person
(their thresholds: pipeline.similarity.thresholds)."""
