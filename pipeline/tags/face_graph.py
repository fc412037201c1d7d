"""The kNN graph of a scope's faces kept between suggestion runs, one Parquet file per scope and model beside
the tables: the next run searches only for the faces added (and those that lost neighbours to faces gone)
instead of building the graph again."""

from __future__ import annotations

import io
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.models.catalog import model_file_stem
from pipeline.search.knn_graph import extend_knn_graph

log = logging.getLogger(__name__)

GRAPHS_FOLDER = "tags_graphs"


def _uri(tables: str, scope: str, model: str) -> str:
    """One file per scope and model; the default scope's where a store of one library kept it before scopes."""
    folder = () if scope == S.DEFAULT_SCOPE else tuple(scope.split("/"))
    return store.join(tables, S.METADATA_FOLDER, GRAPHS_FOLDER, *folder, model_file_stem(model) + ".parquet")


def save_graph(tables: str, storage: StorageConfig | None, scope: str, model: str, face_ids: list[str], graph) -> None:
    """Keep ``graph`` ((similarities, neighbours) over ``face_ids`` of ``scope``, rows in that order) for the
    next run."""
    similarities, neighbours = graph
    k = similarities.shape[1]
    table = pa.table(
        {
            S.FACE_ID: pa.array(face_ids, pa.string()),
            "neighbours": pa.FixedSizeListArray.from_arrays(pa.array(neighbours.ravel(), pa.int32()), k),
            "similarities": pa.FixedSizeListArray.from_arrays(pa.array(similarities.ravel(), pa.float32()), k),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    store.write_bytes(_uri(tables, scope, model), buffer.getvalue(), storage)


def updated_graph(
    tables: str,
    storage: StorageConfig | None,
    scope: str,
    model: str,
    face_ids: list[str],
    vectors: np.ndarray,
    k: int,
) -> tuple[tuple[np.ndarray, np.ndarray], dict] | None:
    """The graph the last run kept for ``model`` in ``scope``, brought up to date for ``face_ids`` (``vectors``), with
    how many faces were added, gone and searched again; None when there is none with ``k`` neighbours."""
    try:
        table = pq.read_table(io.BytesIO(store.read_bytes(_uri(tables, scope, model), storage)))
    except FileNotFoundError:
        return None
    if table.num_rows and table.schema.field("neighbours").type.list_size != k:
        return None
    row_of = {face: i for i, face in enumerate(face_ids)}
    earlier = np.array([row_of.get(face, -1) for face in table[S.FACE_ID].to_pylist()] + [-1], np.int64)
    if not table.num_rows:
        return None
    old_neighbours = S.matrix(table["neighbours"]).astype(np.int64)
    old_similarities = S.matrix(table["similarities"]).astype(np.float32)
    neighbours = np.full((len(face_ids), k), -1, np.int64)
    similarities = np.full((len(face_ids), k), -np.inf, np.float32)
    kept = earlier[:-1] >= 0
    moved = earlier[np.where(old_neighbours >= 0, old_neighbours, -1)]  # -1: none, or a face gone
    neighbours[earlier[:-1][kept]] = moved[kept]
    similarities[earlier[:-1][kept]] = np.where(moved[kept] >= 0, old_similarities[kept], -np.inf)
    order = np.argsort(-similarities, axis=1, kind="stable")  # faces gone leave gaps: best first again
    neighbours, similarities = np.take_along_axis(neighbours, order, 1), np.take_along_axis(similarities, order, 1)
    added = np.ones(len(face_ids), bool)
    added[earlier[:-1][kept]] = False
    lost = np.zeros(len(face_ids), bool)
    lost[earlier[:-1][kept]] = ((old_neighbours[kept] >= 0) & (moved[kept] < 0)).any(axis=1)
    graph = extend_knn_graph(vectors, similarities, neighbours, added | lost, added, k)
    counts = {"added": int(added.sum()), "gone": int(np.sum(~kept)), "searched_again": int(lost.sum())}
    log.info("kNN graph of %s at %s brought up to date: %s", model, tables, counts)
    return graph, counts


def remove_graphs_except(tables: str, storage: StorageConfig | None, scopes: set[str]) -> int:
    """Delete the kept graphs of every scope not in ``scopes`` (a library forgotten, a circle gone); how many."""
    folder = store.join(tables, S.METADATA_FOLDER, GRAPHS_FOLDER)
    try:
        kept = store.list_files(folder, storage)
    except ConfigError:  # no graph was ever kept
        return 0
    removed = 0
    for found in kept:
        scope = "/".join(found.path.split("/")[:-1]) or S.DEFAULT_SCOPE
        if scope not in scopes:
            store.remove_file(found.uri, storage)
            removed += 1
    return removed
