"""The kNN graph kept between suggestion runs: brought up to date for faces added and gone, it is the
graph built anew."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import schema as S
from pipeline.search.knn_graph import knn_graph
from pipeline.tags.face_graph import save_graph, updated_graph
from tests.tables import people_vectors

K = 8


def test_a_kept_graph_brought_up_to_date_is_the_graph_built_anew(tmp_path: Path) -> None:
    _, vectors = people_vectors({f"p{i}": 12 for i in range(20)}, seed=3)
    ids = [f"face-{i}" for i in range(len(vectors))]
    before = np.arange(len(vectors)) < 200  # 40 faces come later
    dst = str(tmp_path)
    save_graph(dst, None, S.DEFAULT_SCOPE, "m", [f for f, b in zip(ids, before) if b], knn_graph(vectors[before], K))
    now = before.copy()
    now[:30] = False  # 30 photos removed since
    now[~before] = True
    face_ids = [f for f, n in zip(ids, now) if n]

    (similarities, neighbours), counts = updated_graph(dst, None, S.DEFAULT_SCOPE, "m", face_ids, vectors[now], K)

    exact = knn_graph(vectors[now], K)
    assert counts["added"] == 40 and counts["gone"] == 30 and counts["searched_again"] > 0
    assert np.array_equal(neighbours, exact[1]) and np.allclose(similarities, exact[0], atol=1e-5)


def test_no_kept_graph_or_another_size_means_a_new_one(tmp_path: Path) -> None:
    _, vectors = people_vectors({"a": 10, "b": 10})
    ids = [str(i) for i in range(20)]
    assert updated_graph(str(tmp_path), None, S.DEFAULT_SCOPE, "m", ids, vectors, K) is None
    save_graph(str(tmp_path), None, S.DEFAULT_SCOPE, "m", ids, knn_graph(vectors, K))
    assert updated_graph(str(tmp_path), None, S.DEFAULT_SCOPE, "m", ids, vectors, K + 1) is None
    assert updated_graph(str(tmp_path), None, S.DEFAULT_SCOPE, "other-model", ids, vectors, K) is None
    assert updated_graph(str(tmp_path), None, "circle/family", "m", ids, vectors, K) is None, "one graph a scope"
