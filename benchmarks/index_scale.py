"""Index benchmark on seeded synthetic face-like vectors: auto's choice against exact search, in one run.

    python -m benchmarks.index_scale [--vectors 1000000] [--dim 128] [--set index.memory_budget=4GiB]

Prints one JSON object: per index (auto's choice, exact), build seconds, index bytes, recall@10 on
1,000 held-out queries (faces of indexed people, never indexed) against exact search, queries/s one
at a time on one thread and batched on all threads; and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import faiss
import numpy as np
import pyarrow as pa

from pipeline.config import load_config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.search.vector_index import KEY, VectorIndex, batches_of

QUERIES = 1000


def _queries_per_s(index: VectorIndex, queries: np.ndarray, k: int, one_at_a_time: bool) -> float:
    threads = faiss.omp_get_max_threads()
    if one_at_a_time:
        faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    if one_at_a_time:
        for row in queries[:300]:
            index.search(row[None], k)
        count = min(300, len(queries))
    else:
        index.search(queries, k)
        count = len(queries)
    faiss.omp_set_num_threads(threads)
    return round(count / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--set", action="append", default=[], metavar="index.KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, args.set).index
    started = time.perf_counter()
    data = face_like_embeddings(
        args.vectors // 25,
        dim=args.dim,
        faces_per_identity=(1, 49),
        noise_faces=args.vectors // 20,
        seed=config.seed + 1,
    )
    indexed, queries = data.vectors[: args.vectors], data.vectors[-QUERIES:]
    entries = pa.table({KEY: pa.array(np.arange(len(indexed)).astype(str))})
    figures: dict = {
        "vectors": len(indexed),
        "dim": args.dim,
        "generate_seconds": round(time.perf_counter() - started, 1),
        "threads": faiss.omp_get_max_threads(),
    }
    results = {}
    for name, settings in (("auto", config), ("exact", config.model_copy(update={"kind": "flat"}))):
        started = time.perf_counter()
        index = VectorIndex.build(batches_of(entries, indexed, settings.batch_rows), len(indexed), args.dim, settings)
        build_seconds = time.perf_counter() - started
        _, found = index.search(queries, settings.k)
        keys = np.array(index.entries[KEY].to_pylist()).astype(np.int64)
        results[name] = keys[found]
        figures[name] = {
            "kind": index.plan.kind,
            "factory": index.plan.factory,
            "build_seconds": round(build_seconds, 1),
            "index_bytes": int(faiss.serialize_index(index.index).nbytes),
            "tuning": index.meta()["tuning"],
            "queries_per_s_one_thread": _queries_per_s(index, queries, settings.k, one_at_a_time=True),
            "queries_per_s_batched": _queries_per_s(index, queries, settings.k, one_at_a_time=False),
        }
        del index
    truth, found = results["exact"], results["auto"]
    figures["auto"]["recall_at_k_held_out"] = round(
        float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)])), 4
    )
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
