"""The cluster job (``pipeline.cluster``): the committed faces of a library -> its clusters and persons tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.io.circles import read_circles, scopes
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
from pipeline.similarity.far_curves import CalibrationStore


@dataclass(frozen=True)
class ClusterResult(JobResult):
    """What a clustering found: people (clusters of two faces or more), faces left alone, and the merge
    rule chosen for the collection (``merge_rule``: the level, thresholds and why)."""

    run_id: str
    method: str
    incremental: bool
    merge_rule: dict  # of the one scope; {} for several (the persons commit's details hold each scope's)
    scopes: int  # circles, and libraries in no circle, clustered each on their own
    faces: int
    clusters: int
    noise_faces: int
    small_faces: int  # too small to cluster (cluster.min_face_side)
    largest: int  # faces of the largest person
    seconds: float


def persons_of(faces: pa.Table, clustering: Clustering, run_id: str, representatives: int, scope: str) -> pa.Table:
    """One row per cluster of ``scope``: size, the most central face ids, and the cover face (the most central of
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
                S.SCOPE: scope,
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


def _previous(tables: str, storage) -> tuple[pa.Table, dict] | None:
    """The last clustering's rows (scope, face_id, cluster_id) and how it was made (its persons commit's
    details), or None before any."""
    snapshot = TablesSnapshot(tables, storage)
    try:
        previous = snapshot.read(S.CLUSTERS_TABLE, [S.SCOPE, S.FACE_ID, S.CLUSTER_ID])
        details = snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY)
    except FileNotFoundError:
        return None
    return previous, details


def _in_scope(
    previous: tuple[pa.Table, dict] | None, scope: str, face_ids: list[str]
) -> tuple[np.ndarray, dict] | None:
    """The last clustering of ``scope``: each face's id there (NEW for faces it did not see) and how it was
    made; None when the scope was not clustered then."""
    if previous is None:
        return None
    rows, details = previous
    rows = rows.filter(pc.equal(rows[S.SCOPE], scope))
    made = details.get("scopes", {}).get(scope) or (details if "scopes" not in details else None)
    if not rows.num_rows or made is None:
        return None
    known = dict(zip(rows[S.FACE_ID].to_pylist(), rows[S.CLUSTER_ID].to_pylist()))
    return np.array([known.get(face_id, NEW) for face_id in face_ids], np.int64), made


def _earlier_rule(details: dict, vectors: np.ndarray, labels: np.ndarray, settings: ClusterSettings) -> Calibration:
    """The merge rule of the last clustering, so that an incremental run places faces as it would have;
    for clusterings made before the rule was recorded, the rule their clusters calibrate (as a first pass)."""
    chosen = details.get("merge_rule", {})
    if "single_faces" in chosen:
        return Calibration(rule_from(chosen), chosen.get("impostor_level"), chosen.get("pairs", 0))
    margins = MergeMargins(settings.single_margin, settings.group_margin, settings.level_ceiling)
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
    snapshot = committed_faces(tables, storage, by_scope=True)
    faces = snapshot.read([S.FACE_ID, S.IMAGE_ID, S.URI, S.LIBRARY, S.BBOX, S.DET_SCORE, S.EMBEDDING])
    faces = faces.take(pc.sort_indices(faces[S.FACE_ID]))  # one order, however the rows lie in the files
    previous = _previous(tables, storage)
    ceiling = _model_level(config, snapshot.models.get("model"))
    found_scopes = scopes(read_circles(TablesSnapshot(tables, storage)), pc.unique(faces[S.LIBRARY]).to_pylist())
    made = []
    highest = pc.max(previous[0][S.CLUSTER_ID]).as_py() if previous is not None else None
    next_id = 0 if highest is None else max(int(highest), -1) + 1
    for scope in found_scopes:
        members = faces.filter(pc.is_in(faces[S.LIBRARY], pa.array(scope.libraries, pa.string())))
        if members.num_rows:
            made.append(
                _cluster_scope(scope.name, members, previous, incremental, config, run_id, tasks, next_id, ceiling)
            )
            next_id = max(next_id, int(pc.max(made[-1].clusters[S.CLUSTER_ID]).as_py()) + 1)
    clusters = pa.concat_tables([S.CLUSTERS_SCHEMA.empty_table(), *(scope.clusters for scope in made)])
    persons = pa.concat_tables([S.PERSONS_SCHEMA.empty_table(), *(scope.persons for scope in made)])
    by_scope = {scope.name: scope.details for scope in made}
    one = made[0].details if len(made) == 1 else {}
    details = {
        "run_id": run_id,
        "method": config.cluster.method,
        "incremental": any(scope["incremental"] for scope in by_scope.values()),
        "merge_rule": one.get("merge_rule", {}),
        "scopes": by_scope,
    }
    write_clustering(tables, clusters, persons, storage, snapshot.table.version(), details)
    labels = clusters[S.CLUSTER_ID].to_numpy()
    return ClusterResult(
        run_id=run_id,
        method=config.cluster.method,
        incremental=details["incremental"],
        merge_rule=details["merge_rule"],
        scopes=len(made),
        faces=clusters.num_rows,
        clusters=persons.num_rows,
        noise_faces=int(np.sum(labels == S.NOISE_CLUSTER)),
        small_faces=sum(scope.small_faces for scope in made),
        largest=max((int(n) for n in persons[S.NUM_FACES].to_pylist()), default=0),
        seconds=round(time.perf_counter() - started, 2),
    )


@dataclass(frozen=True)
class _ScopeClustering:
    name: str
    clusters: pa.Table
    persons: pa.Table
    details: dict  # incremental, merge_rule, faces, clusters
    small_faces: int


def _cluster_scope(
    scope: str,
    faces: pa.Table,
    previous: tuple[pa.Table, dict] | None,
    incremental: bool,
    config: Config,
    run_id: str,
    tasks: RayTasks | None,
    next_id: int,
    ceiling: float | None,
) -> _ScopeClustering:
    """The people among ``faces`` (one scope's, in face_id order): as a store holding these faces alone
    would find them. Cluster ids are unique in the whole table: a cluster that is not an earlier one of the
    scope takes an id from ``next_id`` on, so that a person in two circles has two ids. A scope of fewer
    than cluster.small_scope_faces faces measures its different-person level at most at ``ceiling``."""
    vectors, boxes = S.matrix(faces[S.EMBEDDING]), S.matrix(faces[S.BBOX])
    eligible = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= config.cluster.min_face_side
    image_ids = np.array(faces[S.IMAGE_ID].to_pylist())
    earlier = _in_scope(previous, scope, faces[S.FACE_ID].to_pylist())
    incremental = incremental and earlier is not None
    settings, index = config.cluster.cluster_settings(), config.index.index_settings()
    if int(eligible.sum()) < config.cluster.small_scope_faces:
        settings = replace(settings, level_ceiling=ceiling)
    if incremental:
        labels, details = earlier[0][eligible], earlier[1]
        rule = _earlier_rule(details, vectors[eligible], labels, settings)
        found = assign_incrementally(vectors[eligible], image_ids[eligible], labels, settings, rule.rule, index, tasks)
        merge_rule = rule.describe()
    else:
        found = cluster_faces(vectors[eligible], image_ids[eligible], settings, index, tasks)
        if earlier is not None:
            found = replace(found, labels=carry_cluster_ids(found.labels, earlier[0][eligible]))
        merge_rule = found.merge_rule
    clustering = Clustering(np.full(faces.num_rows, S.NOISE_CLUSTER, np.int64), np.zeros(faces.num_rows, np.float32))
    kept = set(earlier[0][earlier[0] >= 0].tolist()) if earlier is not None else set()
    clustering.labels[eligible] = _fresh_ids(found.labels, kept, next_id)
    clustering.confidence[eligible] = found.confidence
    n = faces.num_rows
    clusters = pa.table(
        {
            S.SCOPE: pa.array([scope] * n, pa.string()),
            S.FACE_ID: faces[S.FACE_ID],
            S.IMAGE_ID: faces[S.IMAGE_ID],
            S.URI: faces[S.URI],
            S.LIBRARY: faces[S.LIBRARY],
            S.CLUSTER_ID: pa.array(clustering.labels, pa.int64()),
            S.CONFIDENCE: pa.array(clustering.confidence, pa.float32()),
            S.RUN_ID: pa.array([run_id] * n, pa.string()),
        },
        schema=S.CLUSTERS_SCHEMA,
    )
    persons = persons_of(faces, clustering, run_id, config.cluster.representatives, scope)
    details = {"incremental": incremental, "merge_rule": merge_rule, "faces": n, "clusters": clustering.clusters}
    return _ScopeClustering(scope, clusters, persons, details, int(np.sum(~eligible)))


def _model_level(config: Config, model: str | None) -> float | None:
    """The different-person level of ``model``'s FAR curve (None: no model, no curve, or none recorded)."""
    if model is None:
        return None
    try:
        return CalibrationStore.of(config).curve(model).different_person_level
    except ConfigError:
        return None


def _fresh_ids(labels: np.ndarray, kept: set[int], next_id: int) -> np.ndarray:
    """``labels`` with every cluster id not in ``kept`` (the scope's earlier ids) renumbered from
    ``next_id`` on, in order; noise stays noise."""
    fresh = sorted({int(label) for label in np.unique(labels[labels >= 0])} - kept)
    mapping = {label: next_id + rank for rank, label in enumerate(fresh)}
    return np.array([mapping.get(int(label), int(label)) for label in labels], np.int64)
