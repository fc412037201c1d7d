"""Index benchmark on seeded synthetic face-like vectors: auto's choice against exact search, in one run.

    python -m benchmarks.index_scale [--vectors 1000000] [--dim 128] [--set index.memory_budget=4GiB]
    python -m benchmarks.index_scale --factory "IVF1024,PQ64x4fs,RFlat" --nprobe 128 192 256 [--k-factor 20]

Prints one JSON object: per index (auto's choice, exact), build seconds, index bytes, recall@10 on
1,000 held-out queries (faces of indexed people, never indexed) against exact search, queries/s one
at a time on one thread and batched on all threads; and the process's peak memory. With --factory,
that FAISS design too (trained as auto's index is), at each --nprobe: the alternatives
a choice of index is measured against.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import faiss
import numpy as np
import pyarrow as pa

from pipeline.config import load_config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.search.index_choice import TRAIN_POINTS_PER_LIST
from pipeline.search.threads import faiss_threads
from pipeline.search.vector_index import KEY, VectorIndex, batches_of, train_index

QUERIES = 1000


def _queries_per_s(search: Callable[[np.ndarray], object], queries: np.ndarray, one_at_a_time: bool) -> float:
    if not one_at_a_time:
        started = time.perf_counter()
        search(queries)
        return round(len(queries) / (time.perf_counter() - started), 1)
    with faiss_threads(1):
        started = time.perf_counter()
        for row in queries[:300]:
            search(row[None])
        return round(min(300, len(queries)) / (time.perf_counter() - started), 1)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)])), 4)


def _design(factory: str, nprobes: list[int], k_factor: int, indexed: np.ndarray, queries, truth, k: int, seed: int):
    """Build the FAISS ``factory`` over ``indexed`` and measure it at each nprobe (and shortlist factor)."""
    index = faiss.index_factory(indexed.shape[1], factory)
    started = time.perf_counter()
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        sample = min(len(indexed), TRAIN_POINTS_PER_LIST * ivf.nlist)
        train_index(index, indexed[np.sort(np.random.default_rng(seed).choice(len(indexed), sample, replace=False))])
    elif not index.is_trained:
        index.train(indexed[: min(len(indexed), 65_536)])
    index.add(indexed)
    figures: dict = {"factory": factory, "build_seconds": round(time.perf_counter() - started, 1), "runs": []}
    for nprobe in nprobes if ivf is not None else [0]:
        params = faiss.SearchParametersIVF(nprobe=nprobe) if ivf is not None else None
        if isinstance(index, faiss.IndexRefine):
            params = faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=params)
        search = partial(index.search, k=k, params=params)
        figures["runs"].append(
            {
                "nprobe": nprobe,
                "recall_at_k_held_out": _recall(search(queries)[1], truth),
                "queries_per_s_one_thread": _queries_per_s(search, queries, one_at_a_time=True),
                "queries_per_s_batched": _queries_per_s(search, queries, one_at_a_time=False),
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--set", action="append", default=[], metavar="index.KEY=VALUE")
    parser.add_argument("--factory", help="also measure this FAISS index_factory design")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[64], help="--factory: nprobe values (IVF)")
    parser.add_argument("--k-factor", type=int, default=20, help="--factory: shortlist of k_factor x k (Refine)")
    args = parser.parse_args()
    config = load_config(None, args.set).index.index_settings()
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
    for name, settings in (("auto", config), ("exact", replace(config, kind="flat"))):
        started = time.perf_counter()
        index = VectorIndex.build(batches_of(entries, indexed, settings.batch_rows), len(indexed), args.dim, settings)
        build_seconds = time.perf_counter() - started
        _, found = index.search(queries, settings.k)
        keys = np.array(index.entries[KEY].to_pylist()).astype(np.int64)
        results[name] = keys[found]
        search = partial(index.search, k=settings.k)
        figures[name] = {
            "kind": index.plan.kind,
            "factory": index.plan.factory,
            "build_seconds": round(build_seconds, 1),
            "index_bytes": int(faiss.serialize_index(index.index).nbytes),
            "tuning": index.meta()["tuning"],
            "queries_per_s_one_thread": _queries_per_s(search, queries, one_at_a_time=True),
            "queries_per_s_batched": _queries_per_s(search, queries, one_at_a_time=False),
        }
        del index
    figures["auto"]["recall_at_k_held_out"] = _recall(results["auto"], results["exact"])
    if args.factory:
        figures["design"] = _design(
            args.factory, args.nprobe, args.k_factor, indexed, queries, results["exact"], config.k, config.seed
        )
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
