"""Clustering time and memory at scale on seeded synthetic face-like embeddings.

    python -m benchmarks.cluster_scale --faces 100000 [--method graph] [--set cluster.KEY=VALUE]
    python -m benchmarks.cluster_scale --identities 12 --faces-per-identity 100 600 --spread 0.8 1.1   # a family
    python -m benchmarks.cluster_scale --identities 20000 --faces-per-identity 1 2                     # a news archive
    python -m benchmarks.cluster_scale --faces 300000 --nodes 2 --set cluster.distributed=true        # on Ray tasks

Faces: identities with 1 to 50 faces each (or as given) plus 5% faces of nobody; a larger spread
means less alike faces of one person (ages, cameras). Prints one JSON object:
seconds for the kNN graph and the clustering, peak memory of the process, and the scores against
the identities the vectors were drawn from. With cluster.distributed the graph method runs on a local
Ray cluster of --nodes nodes sharing this machine's CPUs (its tasks log their workers' peak memory).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time

import numpy as np

from pipeline.config import load_config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.metrics.clustering import clustering_metrics
from pipeline.people.clustering import cluster_faces
from pipeline.runtime.ray_tasks import RayTasks


def _start_local_cluster(nodes: int) -> None:
    """A Ray cluster of ``nodes`` nodes on this machine, the CPUs split between them."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": max(1, os.cpu_count() // nodes)})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=max(1, os.cpu_count() // nodes))
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000, help="about this many faces (identities = faces / 26)")
    parser.add_argument("--identities", type=int, help="instead of --faces: this many people")
    parser.add_argument("--faces-per-identity", type=int, nargs=2, default=[1, 50], metavar=("MIN", "MAX"))
    parser.add_argument("--spread", type=float, nargs=2, default=[0.6, 1.0], metavar=("MIN", "MAX"))
    parser.add_argument("--noise-fraction", type=float, default=0.05)
    parser.add_argument("--method", default="graph", choices=["graph", "hdbscan", "kmeans"])
    parser.add_argument("--nodes", type=int, default=2, help="with cluster.distributed: local Ray nodes")
    parser.add_argument("--set", action="append", default=[], metavar="cluster.KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    config = load_config(None, [*args.set, f"cluster.method={args.method}"])
    identities = args.identities or args.faces // 26
    expected = identities * sum(args.faces_per_identity) / 2
    data = face_like_embeddings(
        identities,
        faces_per_identity=tuple(args.faces_per_identity),
        spread=tuple(args.spread),
        noise_faces=int(expected * args.noise_fraction),
        seed=config.cluster.seed,
    )
    tasks = None
    if config.cluster.distributed:
        _start_local_cluster(args.nodes)
        tasks = RayTasks()
    started = time.perf_counter()
    clustering = cluster_faces(
        data.vectors,
        np.arange(len(data.vectors)).astype(str),
        config.cluster.cluster_settings(),
        config.index.index_settings(),
        tasks,
    )
    seconds = time.perf_counter() - started
    truth = np.where(data.labels >= 0, data.labels, -1 - np.arange(len(data.labels)))  # each nobody is their own person
    metrics = clustering_metrics(clustering.labels, truth)
    print(
        json.dumps(
            {
                "faces": len(data.vectors),
                "identities": int(data.labels.max() + 1),
                "method": args.method,
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
