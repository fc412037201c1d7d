"""FAISS's thread count is process-wide: whatever changes it for a while puts it back, failures included."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.search import vector_index
from pipeline.search.knn_graph import knn_graph
from pipeline.search.threads import faiss_threads


def test_threads_set_for_a_block_come_back_after_a_failure() -> None:
    before = faiss.omp_get_max_threads()
    with pytest.raises(RuntimeError), faiss_threads(before + 2):
        assert faiss.omp_get_max_threads() == before + 2
        raise RuntimeError("failed inside")
    assert faiss.omp_get_max_threads() == before


def test_a_tuning_that_fails_while_timing_on_one_thread_gives_the_threads_back(monkeypatch) -> None:
    vectors = face_like_embeddings(20, faces_per_identity=(5, 10), seed=1).vectors
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    plan = vector_index.plan_index(len(vectors), vectors.shape[1], 10**9, "flat")

    def failing_search(*args, **kwargs):
        raise RuntimeError("search failed")

    monkeypatch.setattr(vector_index, "_search", failing_search)  # first called while timing on one thread
    with faiss_threads(3):
        with pytest.raises(RuntimeError, match="search failed"):
            vector_index._tune(index, plan, vectors[:10], np.zeros((10, 5), np.int64), 5, 0.9)
        assert faiss.omp_get_max_threads() == 3


def test_a_knn_graph_built_in_this_process_leaves_the_thread_count_as_it_was() -> None:
    vectors = face_like_embeddings(30, faces_per_identity=(5, 10), seed=2).vectors
    with faiss_threads(1):
        knn_graph(vectors, 5)
        assert faiss.omp_get_max_threads() == 1
