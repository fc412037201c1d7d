"""Clustering time and memory at scale on seeded synthetic face-like embeddings.

    python -m benchmarks.cluster_scale --faces 100000 [--method graph] [--set cluster.KEY=VALUE]

Faces: identities with 1 to 50 faces each plus 5% faces of nobody. Prints one JSON object:
seconds for the kNN graph and the clustering, peak memory of the process, and the scores against
the identities the vectors were drawn from.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from pipeline.cluster import cluster_faces
from pipeline.cluster_metrics import clustering_metrics
from pipeline.config import load_config
from pipeline.synthetic import face_like_embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--method", default="graph", choices=["graph", "hdbscan", "kmeans"])
    parser.add_argument("--set", action="append", default=[], metavar="cluster.KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, [*args.set, f"cluster.method={args.method}"])
    data = face_like_embeddings(args.faces // 26, faces_per_identity=(1, 50), noise_faces=args.faces // 20, seed=config.cluster.seed)
    started = time.perf_counter()
    clustering = cluster_faces(data.vectors, np.arange(len(data.vectors)).astype(str), config.cluster, config.index)
    seconds = time.perf_counter() - started
    truth = np.where(data.labels >= 0, data.labels, -1 - np.arange(len(data.labels)))  # each nobody is their own person
    metrics = clustering_metrics(clustering.labels, truth)
    print(json.dumps({"faces": len(data.vectors), "identities": int(data.labels.max() + 1), "method": args.method,
                      "seconds": round(seconds, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}}))


if __name__ == "__main__":
    main()
