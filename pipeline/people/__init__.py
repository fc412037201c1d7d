"""People: identity clustering (kNN graph, average linkage), the cluster job and the people report."""
