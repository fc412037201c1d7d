"""A FAISS index over L2-normalised vectors with an entries table (one row per vector: its key and
payload), built in streamed batches, tuned to a target recall, updated incrementally, stored on
disk or S3.

Positions: the i-th vector added has FAISS id i and is row i of ``entries``. Removal marks rows
(tombstones) and searches skip them with an id selector; a rebuild drops them for good.

Storage layout at URI: ``index-<gen>.faiss``, ``entries-<gen>.parquet`` and ``meta.json``, written in
that order; meta.json names the generation, so a crash mid-save leaves the previous index readable.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import store
from pipeline.progress import Progress
from pipeline.search.index_choice import IndexPlan, plan_index
from pipeline.search.index_settings import IndexSettings
from pipeline.search.threads import faiss_threads

log = logging.getLogger(__name__)

KEY = "key"
REMOVED = "removed"
META_FILE = "meta.json"
# Grids the tuner walks, cheapest first; steps of about 1.25x from 64 up, where a step costs most (at 1M
# face-like vectors nprobe 640 reached the recall that the coarser grid's next value, 768, was chosen for)
NPROBE_GRID = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 448, 512, 640, 768, 1024, 1536)
EF_SEARCH_GRID = (16, 24, 32, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024)
REFINE_K_FACTOR = 4  # PQ shortlists 4k candidates for the SQ8 re-ranking
FAST_SCAN_K_FACTOR = 20  # IVF-Flat's 4-bit fast-scan codes shortlist 20k candidates for exact re-ranking
OPQ_ITERATIONS = 10  # FAISS's 50 cost minutes at 100k+ vectors for no measured recall gain here
PQ_POINTS_PER_CENTROID = 64  # PQ codebooks train on 256 * 64 points (FAISS: 256 * 256)

Batches = Callable[[], Iterable[tuple[pa.Table, np.ndarray]]]  # a fresh pass of (entries, vectors) batches


@dataclass(frozen=True)
class Tuning:
    """The search parameter chosen for a target recall, and what was measured with it."""

    parameter: str | None  # "nprobe", "efSearch" or None (exact search)
    value: int
    recall: float  # mean recall@k against exact search over the held-out queries
    k: int
    queries: int
    latency_ms: float  # one query at a time, one thread
    batch_queries_per_s: float  # all queries at once, all threads


def similarity_of(squared_distances: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit vectors from their squared L2 distance."""
    return 1.0 - squared_distances / 2.0


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


class _ExactNeighbours:
    """Exact k nearest indexed vectors of a fixed query set, accumulated batch by batch."""

    def __init__(self, queries: np.ndarray, k: int):
        self.queries, self.k = queries, k
        self.distances = np.full((len(queries), 0), np.inf, np.float32)
        self.ids = np.zeros((len(queries), 0), np.int64)

    def add(self, vectors: np.ndarray, first_id: int) -> None:
        if not len(vectors) or not len(self.queries):
            return
        k = min(self.k, len(vectors))
        distances, ids = faiss.knn(self.queries, vectors, k)
        merged_d = np.hstack([self.distances, distances])
        merged_i = np.hstack([self.ids, ids + first_id])
        keep = np.argsort(merged_d, axis=1, kind="stable")[:, : self.k]
        self.distances = np.take_along_axis(merged_d, keep, 1)
        self.ids = np.take_along_axis(merged_i, keep, 1)


def _recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Mean recall of ``found`` against ``truth`` (rows of ids; -1 = nothing found or nothing to find),
    over the queries with something to find, and its standard error."""
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / np.count_nonzero(t >= 0) for f, t in zip(found, truth) if np.any(t >= 0)
    ]
    if not hits:
        return 1.0, 0.0
    return float(np.mean(hits)), float(np.std(hits) / np.sqrt(len(hits)))


def _search_parameters(plan: IndexPlan, value: int, selector) -> faiss.SearchParameters | None:
    """FAISS search parameters for ``plan`` at nprobe / efSearch ``value``, skipping ``selector``'s ids."""
    if plan.kind == "flat":
        return faiss.SearchParameters(sel=selector) if selector is not None else None
    if plan.kind == "hnsw":
        return faiss.SearchParametersHNSW(efSearch=max(value, 1), sel=selector)
    ivf = faiss.SearchParametersIVF(nprobe=max(value, 1), sel=selector)
    if plan.kind == "ivf_flat" and plan.refine:  # the fast-scan shortlist, re-ranked on the raw vectors
        return faiss.IndexRefineSearchParameters(k_factor=FAST_SCAN_K_FACTOR, base_index_params=ivf)
    if plan.kind != "ivf_pq":
        return ivf
    rotated = faiss.SearchParametersPreTransform(index_params=ivf)  # the OPQ rotation wraps the IVF index
    if not plan.refine:
        return rotated
    return faiss.IndexRefineSearchParameters(k_factor=REFINE_K_FACTOR, base_index_params=rotated)


def _search(index: faiss.Index, plan: IndexPlan, queries: np.ndarray, k: int, value: int, selector=None):
    return index.search(_as_matrix(queries), k, params=_search_parameters(plan, value, selector))


def _parameter_grid(plan: IndexPlan) -> tuple[str | None, list[int]]:
    if plan.nlist:
        return "nprobe", [v for v in NPROBE_GRID if v < plan.nlist] + [plan.nlist]
    if plan.hnsw_m:
        return "efSearch", list(EF_SEARCH_GRID)
    return None, []


def _tune(index: faiss.Index, plan: IndexPlan, queries: np.ndarray, truth: np.ndarray, k: int, target: float) -> Tuning:
    """The cheapest nprobe / efSearch whose recall@k over held-out ``queries`` (``truth``: their exact
    neighbour ids) reaches ``target`` by two standard errors, so that new queries reach it too (the
    largest tried when none does), and its latency."""
    parameter, grid = _parameter_grid(plan)
    chosen, recall = (grid[-1] if grid else 0), 1.0
    for value in grid:
        recall, error = _recall(_search(index, plan, queries, k, value)[1], truth)
        if recall - 2 * error >= target:
            chosen = value
            break
    if grid and recall < target:
        log.warning("recall@%d reached only %.3f at %s=%d (target %.3f)", k, recall, parameter, chosen, target)
    if not len(queries):
        return Tuning(parameter, chosen, recall, k, 0, 0.0, 0.0)
    one_by_one = queries[: min(200, len(queries))]
    with faiss_threads(1):
        started = time.perf_counter()
        for row in one_by_one:
            _search(index, plan, row[None], k, chosen)
        latency = (time.perf_counter() - started) / len(one_by_one)
    started = time.perf_counter()
    _search(index, plan, queries, k, chosen)
    batch_rate = len(queries) / max(time.perf_counter() - started, 1e-9)
    return Tuning(parameter, chosen, round(recall, 4), k, len(queries), round(latency * 1000, 4), round(batch_rate, 1))


class VectorIndex:
    """A built index: FAISS index, plan, entries (KEY and payload columns, a row per vector), which
    vectors were removed, and its tuning."""

    def __init__(
        self,
        index: faiss.Index,
        plan: IndexPlan,
        entries: pa.Table,
        tuning: Tuning,
        info: dict | None = None,
        removed: np.ndarray | None = None,
    ):
        self.index, self.plan, self.entries, self.tuning = index, plan, entries, tuning
        self.info = dict(info or {})
        self._removed = np.zeros(entries.num_rows, bool) if removed is None else np.asarray(removed, bool)
        self._refresh_selector()

    # --- building ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls, batches: Batches, vectors: int, dim: int, settings: IndexSettings, info: dict | None = None
    ) -> VectorIndex:
        """Build over ``vectors`` vectors delivered by ``batches`` (called twice: a sampling pass, then
        an adding pass), then tune. Memory: the index, the training sample and one batch.

        Tuning is honest: a sample of queries is held out while the rest is added, the search
        parameter is chosen by recall against exact search over the rest, then the queries are added.
        """
        plan = plan_index(vectors, dim, settings.memory_budget, settings.kind, settings.hnsw_m)
        log.info("index plan: %s", plan)
        rng = np.random.default_rng(settings.seed)
        query_count = min(settings.tune_queries, vectors // 10)
        sample = np.sort(rng.choice(vectors, size=min(vectors, plan.train_size + query_count), replace=False))
        is_query = np.zeros(len(sample), bool)
        is_query[rng.choice(len(sample), size=query_count, replace=False)] = True
        sampled = _gather(batches(), sample)
        index = faiss.index_factory(dim, plan.factory, faiss.METRIC_L2)
        if plan.hnsw_m:
            faiss.downcast_index(index).hnsw.efConstruction = settings.hnsw_ef_construction
        started = time.perf_counter()
        if plan.train_size:
            train_index(index, sampled[~is_query] if (~is_query).sum() >= plan.nlist else sampled)
        queries, query_positions = sampled[is_query], sample[is_query]
        truth = _ExactNeighbours(queries, settings.k)
        pieces, held_out, seen, added = [], [], 0, 0
        with Progress("index: vectors added", vectors, "vector") as bar:
            for entries, block in batches():
                block = _as_matrix(block)
                bar.advance(len(block))
                lo, hi = np.searchsorted(query_positions, [seen, seen + len(block)])
                keep = np.ones(len(block), bool)
                keep[query_positions[lo:hi] - seen] = False
                kept = block[keep]
                index.add(kept)
                truth.add(kept, added)
                pieces.append(entries.filter(pa.array(keep)))
                held_out.append(entries.take(pa.array(query_positions[lo:hi] - seen)))
                added += int(keep.sum())
                seen += len(block)
        if seen != vectors:
            raise RuntimeError(f"the batches delivered {seen} vectors, {vectors} were announced")
        built_in = time.perf_counter() - started
        wanted = np.where(similarity_of(truth.distances) >= settings.recall_floor, truth.ids, -1)  # -1: does not count
        tuning = _tune(index, plan, queries, wanted, settings.k, settings.target_recall)
        index.add(queries)
        built = cls(index, plan, pa.concat_tables(pieces + held_out), tuning, info)
        built.info["build_seconds"] = round(built_in, 3)
        return built

    # --- searching --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, positions), each len(queries) x k, best first, with the tuned parameter;
        position -1 (similarity -inf) where fewer than k live vectors were found."""
        distances, ids = _search(self.index, self.plan, queries, k, self.tuning.value, self._selector)
        return np.where(ids >= 0, similarity_of(distances), -np.inf), ids

    # --- incremental updates ----------------------------------------------------------------
    @property
    def size(self) -> int:
        """Vectors indexed, removed ones included."""
        return self.entries.num_rows

    @property
    def live(self) -> int:
        """Vectors indexed and not removed."""
        return int(self.size - self._removed.sum())

    def keys(self) -> list[str]:
        """Keys of the live vectors."""
        keys = self.entries.column(KEY).to_pylist()
        return [key for key, gone in zip(keys, self._removed) if not gone]

    def add(self, entries: pa.Table, vectors: np.ndarray) -> None:
        """Append vectors (the plan's quantiser stays as trained) with their entries rows."""
        self.index.add(_as_matrix(vectors))
        self.entries = pa.concat_tables([self.entries, entries.select(self.entries.column_names)])
        self._removed = np.concatenate([self._removed, np.zeros(entries.num_rows, bool)])

    def remove(self, keys: Iterable[str]) -> int:
        """Mark the vectors of ``keys`` removed (never returned by search again); how many were."""
        wanted = set(keys)
        hits = np.array([key in wanted for key in self.entries.column(KEY).to_pylist()], bool) & ~self._removed
        self._removed |= hits
        self._refresh_selector()
        return int(hits.sum())

    def _refresh_selector(self) -> None:
        removed = np.flatnonzero(self._removed).astype(np.int64)
        if not len(removed):
            self._selector = None
            return
        self._removed_batch = faiss.IDSelectorBatch(removed)  # kept alive: the Not selector points to it
        self._selector = faiss.IDSelectorNot(self._removed_batch)

    def outgrown(self, settings: IndexSettings, vectors: int) -> str | None:
        """Why the index should be rebuilt to hold ``vectors`` live vectors, or None: too many
        removed, or the plan for that many vectors differs (another kind, or twice the lists)."""
        if self.size and self._removed.sum() / self.size > settings.rebuild_removed_fraction:
            return f"{self._removed.sum()} of {self.size} indexed vectors were removed"
        wanted = plan_index(vectors, self.plan.dim, settings.memory_budget, settings.kind, settings.hnsw_m)
        if wanted.kind != self.plan.kind:
            return f"{vectors} vectors call for {wanted.kind}, the index is {self.plan.kind}"
        if wanted.nlist >= 2 * self.plan.nlist > 0:
            return f"{vectors} vectors call for {wanted.nlist} lists, the index was trained with {self.plan.nlist}"
        return None

    # --- storage ----------------------------------------------------------------------------
    def meta(self) -> dict:
        """What meta.json records: plan, tuning, counts and the caller's info (model ids, sources)."""
        return {
            "plan": asdict(self.plan),
            "tuning": asdict(self.tuning),
            "vectors": self.size,
            "live": self.live,
            "info": self.info,
        }

    def save(self, uri: str, storage: store.StorageConfig) -> None:
        """Write the index at ``uri`` (folder or s3:// prefix), replacing any earlier one atomically."""
        try:
            previous = json.loads(store.read_bytes(store.join(uri, META_FILE), storage)).get("generation")
        except FileNotFoundError:
            previous = None
        generation = uuid.uuid4().hex[:12]
        store.write_bytes(
            store.join(uri, f"index-{generation}.faiss"), faiss.serialize_index(self.index).tobytes(), storage
        )
        buffer = io.BytesIO()
        pq.write_table(self.entries.append_column(REMOVED, pa.array(self._removed)), buffer)
        store.write_bytes(store.join(uri, f"entries-{generation}.parquet"), buffer.getvalue(), storage)
        meta = {"generation": generation, **self.meta()}
        store.write_text(store.join(uri, META_FILE), json.dumps(meta, indent=2), storage)
        if previous:
            for name in (f"index-{previous}.faiss", f"entries-{previous}.parquet"):
                store.remove_file(store.join(uri, name), storage)

    @classmethod
    def load(cls, uri: str, storage: store.StorageConfig) -> VectorIndex:
        """The index saved at ``uri``; FileNotFoundError when there is none."""
        meta = json.loads(store.read_bytes(store.join(uri, META_FILE), storage))
        generation = meta["generation"]
        data = store.read_bytes(store.join(uri, f"index-{generation}.faiss"), storage)
        index = faiss.deserialize_index(np.frombuffer(data, np.uint8))
        entries = pq.read_table(io.BytesIO(store.read_bytes(store.join(uri, f"entries-{generation}.parquet"), storage)))
        removed = entries.column(REMOVED).to_numpy(zero_copy_only=False)
        return cls(
            index,
            IndexPlan(**meta["plan"]),
            entries.drop_columns([REMOVED]),
            Tuning(**meta["tuning"]),
            meta["info"],
            removed,
        )


def _gather(batches: Iterable[tuple[pa.Table, np.ndarray]], positions: np.ndarray) -> np.ndarray:
    """The vectors at sorted ``positions`` of the stream."""
    found, start = [], 0
    for _, block in batches:
        lo, hi = np.searchsorted(positions, [start, start + len(block)])
        found.append(_as_matrix(block)[positions[lo:hi] - start])
        start += len(block)
    return np.concatenate(found) if found else np.zeros((0, 0), np.float32)


def train_index(index: faiss.Index, sample: np.ndarray) -> None:
    """Train an IVF index's quantisers (as every index here is trained); the coarse k-means runs on the
    GPUs when FAISS sees any.

    The coarse k-means is spherical (centroids kept unit-length): a plain k-means centroid of scattered
    unit vectors shrinks towards the origin and, being then near every vector, draws thousands of them
    (at 200k face-like vectors half of 16,384 lists stayed empty and one held 6,842 vectors)."""
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    ivf.cp.spherical = True
    if faiss.get_num_gpus() > 0:
        ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(ivf.d))
    if isinstance(ivf, faiss.IndexIVFPQ):
        ivf.pq.cp.max_points_per_centroid = PQ_POINTS_PER_CENTROID
        ivf.do_polysemous_training = False  # only serves Hamming-filtered search, which we do not use
        rotated = faiss.downcast_index(index.base_index if isinstance(index, faiss.IndexRefine) else index)
        if isinstance(rotated, faiss.IndexPreTransform):
            faiss.downcast_VectorTransform(rotated.chain.at(0)).niter = OPQ_ITERATIONS
    index.train(sample)


def batches_of(entries: pa.Table, vectors: np.ndarray, rows: int) -> Batches:
    """Batches over an in-memory entries table and its vectors, ``rows`` at a time."""

    def passes() -> Iterator[tuple[pa.Table, np.ndarray]]:
        for start in range(0, entries.num_rows, rows):
            yield entries.slice(start, rows), vectors[start : start + rows]

    return passes
