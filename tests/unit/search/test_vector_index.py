"""The vector index: recall against exact search for every kind, removal, growth, storage."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import StorageConfig
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.search.index_settings import IndexSettings
from pipeline.search.vector_index import KEY, VectorIndex, batches_of

HELD_OUT = 1000


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """200k seeded face-like vectors to index (8,000 identities with 1-49 faces and 4,000 loners),
    and 1,000 more faces of the same people, never indexed, as queries."""
    data = face_like_embeddings(8_000, faces_per_identity=(1, 49), noise_faces=4_000, seed=7)
    return data.vectors[:-HELD_OUT][:200_000], data.vectors[-HELD_OUT:]


def _entries(count: int, prefix: str = "f") -> pa.Table:
    return pa.table({KEY: [f"{prefix}{i}" for i in range(count)]})


def _build(vectors: np.ndarray, **settings) -> VectorIndex:
    return VectorIndex.build(
        batches_of(_entries(len(vectors)), vectors, 50_000), len(vectors), vectors.shape[1], IndexSettings(**settings)
    )


def _rows(index: VectorIndex, positions: np.ndarray) -> np.ndarray:
    """The input row numbers (keys f<i>) of search result positions (-1 stays -1)."""
    keys = np.array([int(key[1:]) for key in index.entries[KEY].to_pylist()])
    return np.where(positions >= 0, keys[positions], -1)


def _recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "kind", ["flat", *(pytest.param(k, marks=pytest.mark.slow) for k in ("hnsw", "ivf_flat", "ivf_pq"))]
)
def test_every_kind_reaches_recall_at_10_of_095_on_held_out_queries(clustered, kind: str) -> None:
    indexed, queries = clustered
    index = _build(indexed, kind=kind)
    assert index.plan.kind == kind and index.size == len(indexed)
    assert index.tuning.recall >= 0.95, index.tuning
    _, truth = faiss.knn(queries, indexed, 10)
    similarities, found = index.search(queries, 10)
    recall = _recall_at(_rows(index, found), truth)
    assert recall >= 0.95, f"{kind}: recall@10 {recall:.3f} on queries never indexed ({index.tuning})"
    exact = 1 - faiss.knn(queries, indexed, 1)[0][:, 0] / 2
    assert np.all(similarities[:, 0] <= exact + (0.02 if kind == "ivf_pq" else 1e-4)), "nothing beats exact search"
    assert np.mean(np.abs(similarities[:, 0] - exact)) < 0.01, "similarities are cosines of the vectors found"
    if kind != "flat":
        assert index.tuning.parameter in ("nprobe", "efSearch") and index.tuning.value >= 1
    assert index.tuning.latency_ms > 0 and index.tuning.batch_queries_per_s > 0


def test_flat_search_equals_brute_force_cosine() -> None:
    data = face_like_embeddings(300, faces_per_identity=(1, 9), seed=3).vectors
    index = _build(data, kind="flat")
    similarities, positions = index.search(data[:20], 5)
    brute = data[:20] @ data.T
    expected = np.argsort(-brute, axis=1)[:, :5]
    assert np.array_equal(_rows(index, positions), expected)
    np.testing.assert_allclose(similarities, np.take_along_axis(brute, expected, 1), atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf_flat", pytest.param("ivf_pq", marks=pytest.mark.slow)])
def test_removed_vectors_never_come_back_and_added_ones_are_found(kind: str, tmp_path: Path) -> None:
    data = face_like_embeddings(400, faces_per_identity=(5, 20), seed=11).vectors
    first, later = data[:-500], data[-500:]
    index = _build(first, kind=kind, tune_queries=200)
    gone = [f"f{i}" for i in range(0, len(first), 3)]
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0, "removing twice counts once"
    index.add(_entries(len(later), "new"), later)
    index.save(str(tmp_path / "idx"), StorageConfig())
    loaded = VectorIndex.load(str(tmp_path / "idx"), StorageConfig())
    for candidate in (index, loaded):
        _, positions = candidate.search(data, 10)
        keys = np.array(candidate.entries[KEY].to_pylist())
        returned = set(keys[positions[positions >= 0]])
        assert not returned & set(gone)
        self_hits = keys[positions[len(first) :, 0]]
        assert np.mean(self_hits == [f"new{i}" for i in range(len(later))]) > 0.95, "added vectors find themselves"
        assert candidate.live == len(first) - len(gone) + len(later)
    assert set(loaded.keys()) == set(index.keys())


def test_growth_and_removals_call_for_a_rebuild() -> None:
    data = face_like_embeddings(100, faces_per_identity=(5, 15), seed=5).vectors
    settings = IndexSettings()
    index = _build(data, tune_queries=100)
    assert index.plan.kind == "flat"
    assert index.outgrown(settings, len(data) + 10) is None
    assert "hnsw" in index.outgrown(settings, 60_000)
    index.remove([f"f{i}" for i in range(len(data) // 4)])
    assert "removed" in index.outgrown(settings, len(data))


def test_saving_again_replaces_the_previous_generation(tmp_path: Path) -> None:
    data = face_like_embeddings(50, faces_per_identity=(2, 4), seed=2).vectors
    where = tmp_path / "idx"
    _build(data, tune_queries=20).save(str(where), StorageConfig())
    index = VectorIndex.load(str(where), StorageConfig())
    index.remove(["f0"])
    index.save(str(where), StorageConfig())
    assert sorted(p.suffix for p in where.iterdir()) == [".faiss", ".json", ".parquet"]
    assert "f0" not in VectorIndex.load(str(where), StorageConfig()).keys()  # noqa: SIM118 (a method, not a dict)
