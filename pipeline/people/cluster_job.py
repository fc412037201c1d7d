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
from pipeline.io.scope_inputs import SCOPE_INPUTS, ScopePlan, library_digests
from pipeline.io.tables import TablesSnapshot, committed_faces, write_clustering
from pipeline.people.calibration import Calibration, MergeMargins, calibrated, preliminary, rule_from
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.people.clustering import Clustering, cluster_faces
from pipeline.people.incremental import NEW, assign_incrementally, carry_cluster_ids
from pipeline.results import PerScopeResult
from pipeline.runtime.ray_cluster import connect
from pipeline.runtime.ray_tasks import RayTasks
from pipeline.runtime.scope_work import run_scopes
from pipeline.similarity.far_curves import CalibrationStore


@dataclass(frozen=True)
class ClusterResult(PerScopeResult):
    """What a clustering found: people (clusters of two faces or more), faces left alone, and the merge
    rule chosen for the collection (``merge_rule``: the level, thresholds and why)."""

    run_id: str
    method: str
    incremental: bool
    merge_rule: dict  # of the one scope; {} for several (the persons commit's details hold each scope's)
    scopes: int  # circles, and libraries in no circle, clustered each on their own (this run)
    scopes_skipped: int  # unchanged since they were last clustered (changed_only)
    scopes_failed: dict  # scope -> why it failed: its earlier rows are kept, it runs again next time
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


def _in_scope(earlier: tuple[pa.Table, dict] | None, face_ids: list[str]) -> tuple[np.ndarray, dict] | None:
    """The last clustering of a scope (_earlier_of): each face's id there (NEW for faces it did not see) and
    how it was made; None when the scope was not clustered then."""
    if earlier is None or not earlier[0].num_rows:
        return None
    rows, made = earlier
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
    tables: str,
    config: Config | None = None,
    *,
    incremental: bool = False,
    changed_only: bool = False,
    run: RunRecorder | None = None,
) -> ClusterResult:
    """Cluster the committed faces of the library at ``tables`` into people and replace its clusters
    and persons tables; returns what was found, with the merge rule chosen for the collection and why.
    A full run keeps the ids of earlier clusters it overlaps; ``incremental`` only places faces added
    since the last run (earlier clusters keep their ids and members, by the last run's rule).
    ``changed_only``: only the scopes whose faces, libraries or settings changed since they were last
    clustered (the others keep their rows). A scope that fails keeps its earlier rows and is clustered
    again at the next run (the result lists it; exit code 1). Holds the library's lease and records the
    run (or is a step of ``run``). ConfigError when there are no faces."""
    config = config or load_config()
    call = python_call("cluster", tables, incremental=incremental, changed_only=changed_only)
    return run_job(
        tables,
        config,
        "cluster",
        run,
        call,
        lambda run: _cluster(tables, config, run.run_id, incremental, changed_only),
    )


def _cluster(tables: str, config: Config, run_id: str, incremental: bool, changed_only: bool) -> ClusterResult:
    started = time.perf_counter()
    tasks = None
    if config.cluster.distributed:
        connect(config.ray)
        tasks = RayTasks()
    storage = config.resolved_storage()
    snapshot = committed_faces(tables, storage, by_scope=True)
    owners = snapshot.read([S.FACE_ID, S.LIBRARY])
    previous = _previous(tables, storage)
    found_scopes = scopes(read_circles(TablesSnapshot(tables, storage)), pc.unique(owners[S.LIBRARY]).to_pylist())
    settings = {"cluster": config.cluster.model_dump(), "model": snapshot.models.get("model")}
    before = previous[1].get(SCOPE_INPUTS, {}) if previous is not None else {}
    plan = ScopePlan.of(found_scopes, settings, before, changed_only, library_digests(owners, [S.FACE_ID]))
    wanted = sorted({library for scope in plan.todo for library in scope.libraries})
    faces = snapshot.read([S.FACE_ID, S.IMAGE_ID, S.URI, S.LIBRARY, S.BBOX, S.DET_SCORE, S.EMBEDDING], libraries=wanted)
    faces = faces.take(pc.sort_indices(faces[S.FACE_ID]))  # one order, however the rows lie in the files
    ceiling = _model_level(config, snapshot.models.get("model"))
    inputs, sizes = {}, {}
    for scope in plan.todo:
        members = faces.filter(pc.is_in(faces[S.LIBRARY], pa.array(scope.libraries, pa.string())))
        if members.num_rows:
            earlier = _earlier_of(previous, scope.name)
            inputs[scope.name] = (scope.name, members, earlier, incremental, config, run_id, ceiling)
            sizes[scope.name] = members.num_rows
    runs = run_scopes(_cluster_scope, inputs, sizes, config.ray.scope_pack_size, tasks)
    highest = pc.max(previous[0][S.CLUSTER_ID]).as_py() if previous is not None else None
    made = _numbered([runs.results[name] for name in sorted(runs.results)], 0 if highest is None else highest + 1)
    clusters = pa.concat_tables([S.CLUSTERS_SCHEMA.empty_table(), *(scope.clusters for scope in made)])
    persons = pa.concat_tables([S.PERSONS_SCHEMA.empty_table(), *(scope.persons for scope in made)])
    done = set(runs.results)
    earlier_details = previous[1].get("scopes", {}) if previous is not None else {}
    by_scope = {name: details for name, details in earlier_details.items() if name in plan.now and name not in done}
    by_scope.update({scope.name: scope.details for scope in made})
    one = made[0].details if len(made) == 1 and len(plan.now) == 1 else {}
    details = {
        "run_id": run_id,
        "method": config.cluster.method,
        "incremental": any(scope.details["incremental"] for scope in made),
        "merge_rule": one.get("merge_rule", {}),
        "scopes": by_scope,
        SCOPE_INPUTS: plan.recorded(done),
    }
    replaced = plan.replaced(done, _scopes_of(previous), previous is None)
    write_clustering(tables, clusters, persons, storage, snapshot.table.version(), details, replaced)
    labels = clusters[S.CLUSTER_ID].to_numpy()
    return ClusterResult(
        run_id=run_id,
        method=config.cluster.method,
        incremental=details["incremental"],
        merge_rule=details["merge_rule"],
        scopes=len(made),
        scopes_skipped=len(found_scopes) - len(plan.todo),
        scopes_failed=runs.failed,
        faces=clusters.num_rows,
        clusters=persons.num_rows,
        noise_faces=int(np.sum(labels == S.NOISE_CLUSTER)),
        small_faces=sum(scope.small_faces for scope in made),
        largest=max((int(n) for n in persons[S.NUM_FACES].to_pylist()), default=0),
        seconds=round(time.perf_counter() - started, 2),
    )


def _scopes_of(previous: tuple[pa.Table, dict] | None) -> set[str]:
    """The scopes the last clustering left rows of."""
    return set(pc.unique(previous[0][S.SCOPE]).to_pylist()) if previous is not None else set()


@dataclass(frozen=True)
class _ScopeClustering:
    name: str
    clusters: pa.Table
    persons: pa.Table
    details: dict  # incremental, merge_rule, faces, clusters
    small_faces: int


def _earlier_of(previous: tuple[pa.Table, dict] | None, scope: str) -> tuple[pa.Table, dict] | None:
    """The last clustering's rows and details of ``scope`` only (what a task clustering it needs)."""
    if previous is None:
        return None
    rows, details = previous
    made = details.get("scopes", {}).get(scope) or (details if "scopes" not in details else None)
    return None if made is None else (rows.filter(pc.equal(rows[S.SCOPE], scope)), made)


def _cluster_scope(
    tasks: RayTasks | None,
    scope: str,
    faces: pa.Table,
    earlier_rows: tuple[pa.Table, dict] | None,
    incremental: bool,
    config: Config,
    run_id: str,
    ceiling: float | None,
) -> _ScopeClustering:
    """The people among ``faces`` (one scope's, in face_id order): as a store holding these faces alone
    would find them. A cluster that is not an earlier one of the scope gets an id from _FRESH on, which
    _numbered makes unique in the store. A scope of fewer than cluster.small_scope_faces faces measures
    its different-person level at most at ``ceiling``."""
    vectors, boxes = S.matrix(faces[S.EMBEDDING]), S.matrix(faces[S.BBOX])
    eligible = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= config.cluster.min_face_side
    image_ids = np.array(faces[S.IMAGE_ID].to_pylist())
    earlier = _in_scope(earlier_rows, faces[S.FACE_ID].to_pylist())
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
    clustering.labels[eligible] = _fresh_ids(found.labels, kept, _FRESH)
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


def _numbered(made: list[_ScopeClustering], next_id: int) -> list[_ScopeClustering]:
    """The scopes' clusterings with their new clusters (ids from _FRESH on) numbered from ``next_id`` on,
    scope after scope: cluster ids are unique in the store, so a person in two circles has two ids."""
    numbered = []
    for scope in made:
        fresh = sorted(label for label in pc.unique(scope.clusters[S.CLUSTER_ID]).to_pylist() if label >= _FRESH)
        mapping = {label: next_id + rank for rank, label in enumerate(fresh)}
        next_id += len(fresh)
        clusters, persons = _renumbered(scope.clusters, mapping), _renumbered(scope.persons, mapping)
        numbered.append(replace(scope, clusters=clusters, persons=persons))
    return numbered


def _renumbered(table: pa.Table, mapping: dict[int, int]) -> pa.Table:
    """``table`` with its cluster ids mapped by ``mapping`` (ids it does not hold unchanged)."""
    ids = [mapping.get(label, label) for label in table[S.CLUSTER_ID].to_pylist()]
    where = table.schema.get_field_index(S.CLUSTER_ID)
    return table.set_column(where, table.schema.field(where), pa.array(ids, pa.int64()))


def _model_level(config: Config, model: str | None) -> float | None:
    """The different-person level of ``model``'s FAR curve (None: no model, no curve, or none recorded)."""
    if model is None:
        return None
    try:
        return CalibrationStore.of(config).curve(model).different_person_level
    except ConfigError:
        return None


_FRESH = 1 << 40  # a scope numbers its new clusters from here on, until _numbered numbers them across the store


def _fresh_ids(labels: np.ndarray, kept: set[int], next_id: int) -> np.ndarray:
    """``labels`` with every cluster id not in ``kept`` (the scope's earlier ids) renumbered from
    ``next_id`` on, in order; noise stays noise."""
    fresh = sorted({int(label) for label in np.unique(labels[labels >= 0])} - kept)
    mapping = {label: next_id + rank for rank, label in enumerate(fresh)}
    return np.array([mapping.get(int(label), int(label)) for label in labels], np.int64)
