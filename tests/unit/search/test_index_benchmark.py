"""benchmarks.index_scale's measurement of a given FAISS design against exact neighbours."""

from __future__ import annotations

import faiss
import numpy as np

from benchmarks.index_scale import _design
from pipeline.evaluate.synthetic import face_like_embeddings


def _data():
    vectors = face_like_embeddings(400, faces_per_identity=(1, 20), noise_faces=200, seed=3).vectors
    indexed, queries = np.ascontiguousarray(vectors[:-100]), np.ascontiguousarray(vectors[-100:])
    return indexed, queries, faiss.knn(queries, indexed, 10)[1]


def test_a_design_scanning_every_list_finds_the_exact_neighbours():
    indexed, queries, truth = _data()
    figures = _design("IVF16,Flat", [1, 16], 20, indexed, queries, truth, 10, seed=0)
    scans = {run["nprobe"]: run for run in figures["runs"]}
    assert scans[16]["recall_at_k_held_out"] == 1.0
    assert scans[1]["recall_at_k_held_out"] < 1.0
    assert all(run["queries_per_s_one_thread"] > 0 and run["queries_per_s_batched"] > 0 for run in figures["runs"])


def test_a_refined_design_without_lists_is_measured_once_at_its_shortlist():
    indexed, queries, truth = _data()
    figures = _design("PQ32x4fs,RFlat", [8, 16], 50, indexed, queries, truth, 10, seed=0)
    assert [run["nprobe"] for run in figures["runs"]] == [0]
    assert figures["runs"][0]["recall_at_k_held_out"] >= 0.95
