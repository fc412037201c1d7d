"""The cluster job (``pipeline.cluster``): the committed faces of a library -> its clusters and persons tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import TablesSnapshot, committed_faces, write_clustering
from pipeline.people.calibration import Calibration, MergeMargins, calibrated, preliminary, rule_from
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import Clustering, cluster_faces
from pipeline.people.incremental import NEW, assign_incrementally, carry_cluster_ids
from pipeline.results import JobResult
from pipeline.runtime.ray_cluster import connect
from pipeline.runtime.ray_tasks import RayTasks


@dataclass(frozen=True)
class ClusterResult(JobResult):
    """What a clustering found: people (clusters of two faces or more), faces left alone, and the merge
    rule chosen for the collection (``merge_rule``: the level, thresholds and why)."""

    run_id: str
    method: str
    incremental: bool
    merge_rule: dict
    faces: int
    clusters: int
    noise_faces: int
    small_faces: int  # too small to cluster (cluster.min_face_side)
    largest: int  # faces of the largest person
    seconds: float


def persons_of(faces: pa.Table, clustering: Clustering, run_id: str, representatives: int) -> pa.Table:
    """One row per cluster: size, the most central face ids, and the cover face (the most central of
    the sharpest-detected half: a clear, typical face)."""
    labels, confidence = clustering.labels, clustering.confidence
    scores = faces[S.DET_SCORE].to_numpy()
    face_ids, uris = np.array(faces[S.FACE_ID].to_pylist()), np.array(faces[S.URI].to_pylist())
    boxes = S.matrix(faces[S.BBOX])
    order = np.lexsort((-confidence, labels))
    rows = []
    for cluster in clustering.ids:
        members = order[labels[order] == cluster]  # most central first
        sharp = members[scores[members] >= np.median(scores[members])]
        cover = sharp[0] if len(sharp) else members[0]
        rows.append(
            {
                S.CLUSTER_ID: int(cluster),
                S.NUM_FACES: len(members),
                S.REPRESENTATIVES: face_ids[members[:representatives]].tolist(),
                S.COVER_FACE: face_ids[cover],
                S.COVER_URI: uris[cover],
                S.COVER_BBOX: boxes[cover].tolist(),
                S.RUN_ID: run_id,
            }
        )
    rows.sort(key=lambda row: (-row[S.NUM_FACES], row[S.CLUSTER_ID]))
    return pa.Table.from_pylist(rows, schema=S.PERSONS_SCHEMA)


def _previous(tables: str, face_ids: list[str], storage) -> tuple[np.ndarray, dict] | None:
    """The last clustering's id of each face (NEW for faces it did not see) and how it was made (its
    persons commit's details), or None before any."""
    snapshot = TablesSnapshot(tables, storage)
    try:
        previous = snapshot.read(S.CLUSTERS_TABLE)
        details = snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY)
    except FileNotFoundError:
        return None
    known = dict(zip(previous[S.FACE_ID].to_pylist(), previous[S.CLUSTER_ID].to_pylist()))
    return np.array([known.get(face_id, NEW) for face_id in face_ids], np.int64), details


def _earlier_rule(details: dict, vectors: np.ndarray, labels: np.ndarray, settings: ClusterSettings) -> Calibration:
    """The merge rule of the last clustering, so that an incremental run places faces as it would have;
    for clusterings made before the rule was recorded, the rule their clusters calibrate (as a first pass)."""
    chosen = details.get("merge_rule", {})
    if "single_faces" in chosen:
        return Calibration(rule_from(chosen), chosen.get("impostor_level"), chosen.get("pairs", 0))
    margins = MergeMargins(settings.single_margin, settings.group_margin)
    if settings.similarity is not None:
        return preliminary(vectors, margins, settings.seed, settings.similarity)
    groups = np.where(labels >= 0, labels, -2 - np.arange(len(labels)))  # each face of no cluster: its own group
    return calibrated(vectors, margins, settings.seed, groups)


def cluster(
    tables: str, config: Config | None = None, *, incremental: bool = False, run: RunRecorder | None = None
) -> ClusterResult:
    """Cluster the committed faces of the library at ``tables`` into people and replace its clusters
    and persons tables; returns what was found, with the merge rule chosen for the collection and why.
    A full run keeps the ids of earlier clusters it overlaps; ``incremental`` only places faces added
    since the last run (earlier clusters keep their ids and members, by the last run's rule). Holds the
    library's lease and records the run (or is a step of ``run``). ConfigError when there are no faces."""
    config = config or load_config()
    call = python_call("cluster", tables, incremental=incremental)
    return run_job(tables, config, "cluster", run, call, lambda run: _cluster(tables, config, run.run_id, incremental))


def _cluster(tables: str, config: Config, run_id: str, incremental: bool) -> ClusterResult:
    started = time.perf_counter()
    tasks = None
    if config.cluster.distributed:
        connect(config.ray)
        tasks = RayTasks()
    storage = config.resolved_storage()
    snapshot = committed_faces(tables, storage)
    faces = snapshot.read([S.FACE_ID, S.IMAGE_ID, S.URI, S.BBOX, S.DET_SCORE, S.EMBEDDING])
    vectors, boxes = S.matrix(faces[S.EMBEDDING]), S.matrix(faces[S.BBOX])
    eligible = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= config.cluster.min_face_side
    image_ids = np.array(faces[S.IMAGE_ID].to_pylist())
    previous = _previous(tables, faces[S.FACE_ID].to_pylist(), storage)
    incremental = incremental and previous is not None
    settings, index = config.cluster.cluster_settings(), config.index.index_settings()
    if incremental:
        labels, details = previous[0][eligible], previous[1]
        earlier = _earlier_rule(details, vectors[eligible], labels, settings)
        found = assign_incrementally(
            vectors[eligible], image_ids[eligible], labels, settings, earlier.rule, index, tasks
        )
        merge_rule = earlier.describe()
    else:
        found = cluster_faces(vectors[eligible], image_ids[eligible], settings, index, tasks)
        if previous is not None:
            found = replace(found, labels=carry_cluster_ids(found.labels, previous[0][eligible]))
        merge_rule = found.merge_rule
    clustering = Clustering(np.full(faces.num_rows, S.NOISE_CLUSTER, np.int64), np.zeros(faces.num_rows, np.float32))
    clustering.labels[eligible], clustering.confidence[eligible] = found.labels, found.confidence
    clusters = pa.table(
        {
            S.FACE_ID: faces[S.FACE_ID],
            S.IMAGE_ID: faces[S.IMAGE_ID],
            S.URI: faces[S.URI],
            S.CLUSTER_ID: pa.array(clustering.labels, pa.int64()),
            S.CONFIDENCE: pa.array(clustering.confidence, pa.float32()),
            S.RUN_ID: pa.array([run_id] * faces.num_rows, pa.string()),
        }
    )
    persons = persons_of(faces, clustering, run_id, config.cluster.representatives)
    details = {"run_id": run_id, "method": config.cluster.method, "incremental": incremental, "merge_rule": merge_rule}
    write_clustering(tables, clusters, persons, storage, snapshot.table.version(), details)
    return ClusterResult(
        **details,
        faces=faces.num_rows,
        clusters=clustering.clusters,
        noise_faces=int(np.sum(clustering.labels == S.NOISE_CLUSTER)),
        small_faces=int(np.sum(~eligible)),
        largest=int(persons[S.NUM_FACES][0].as_py()) if persons.num_rows else 0,
        seconds=round(time.perf_counter() - started, 2),
    )
