"""The suggestion job (``pipeline.suggest_tags``, `facepipe tags suggest`): names for the untagged faces of
a library, from the faces people tagged there.

Per scope (pipeline.io.circles: a circle's libraries together, a library in no circle alone): a scope's
faces are named from the tags on its faces only (a tag is its face's library's), as a store holding that
scope's faces alone would name them; a face of a library in two circles may have a suggestion in each.

Per embedding model of the faces table, pipeline.tags.suggester names the faces, on the kNN graph the
last run kept (pipeline.tags.face_graph) brought up to date for the faces added and removed since: the
search, which is most of the time at scale, covers only them; the names, cheap next to it, are passed
again over the whole graph, so an incremental run gives what a full one gives. The suggestions table is
replaced whole: a suggestion the last run made too (same face, same name) keeps its run_id, so a
pending suggestion is never re-issued as a new one; a name whose tags were all removed is suggested
nowhere; a rejected name never comes back for that face.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.io.circles import read_circles, scopes
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.scope_inputs import SCOPE_INPUTS, ScopePlan, library_digests, tag_digests
from pipeline.io.tables import TablesSnapshot, write_suggestions
from pipeline.io.tags_table import rejections, tags_in_force
from pipeline.metrics.tags import BUCKETS, tags_bucket
from pipeline.results import PerScopeResult
from pipeline.runtime.ray_cluster import connect
from pipeline.runtime.ray_tasks import RayTasks
from pipeline.runtime.scope_work import run_scopes
from pipeline.search.knn_graph import knn_graph
from pipeline.similarity.far_curves import CalibrationStore
from pipeline.similarity.thresholds import carried_margin, carried_threshold
from pipeline.tags.face_graph import save_graph, updated_graph
from pipeline.tags.propagation import NO_NAME, NamingRule
from pipeline.tags.scores import shipped_prior
from pipeline.tags.suggester import SuggestRules, graph_neighbours, suggest_names
from pipeline.tags.suspects import SuspectRule

log = logging.getLogger(__name__)

METHOD_DIRECT = "nearest-tagged"  # the name came from a tagged face among the face's nearest
METHOD_CHAIN = "nearest-named"  # the name came through faces named on the way


@dataclass(frozen=True)
class SuggestResult(PerScopeResult):
    """What a suggestion run did: the suggestions made, kept from the last run and dropped, by how many
    tags their person has, the faces left without one, and per model how the names were decided
    (suspect tags, score table, thresholds, the graph)."""

    run_id: str
    full: bool
    faces: int
    tags: int
    names: int
    rejections: int
    suggestions: int
    new_suggestions: int
    kept_suggestions: int
    dropped_suggestions: int
    suggestions_by_tags_per_person: dict
    untagged_faces_without_suggestion: int
    scopes: int  # circles, and libraries in no circle, named each from their own tags (this run)
    scopes_skipped: int  # unchanged since their last suggestions (changed_only)
    scopes_failed: dict  # scope -> why it failed: its earlier rows are kept, it runs again next time
    models: dict  # per model, how the names were decided (with several scopes: per scope, then per model)
    seconds: float


def _previous(snapshot: TablesSnapshot) -> dict[tuple[str, str, str], str]:
    """(scope, face id, name) -> run_id of the suggestions the last run left (empty before the first run)."""
    try:
        rows = snapshot.read(S.SUGGESTIONS_TABLE, [S.SCOPE, S.FACE_ID, S.NAME, S.RUN_ID])
    except FileNotFoundError:
        return {}
    keys = zip(rows[S.SCOPE].to_pylist(), rows[S.FACE_ID].to_pylist(), rows[S.NAME].to_pylist())
    return dict(zip(keys, rows[S.RUN_ID].to_pylist()))


def suggest_rules(config: Config, model: str) -> tuple[SuggestRules, dict]:
    """The suggester's rules for ``model`` from config.tags, its similarities and margins (stated on the
    reference model's scale) carried to ``model`` by the threshold service, and where each came from.
    ConfigError naming the command that calibrates ``model`` when it has no FAR curve."""
    settings, calibrations = config.tags, CalibrationStore.of(config)
    chosen = {
        key: carried_threshold(calibrations, model, getattr(settings, key), f"tags.{key}")
        for key in ("similarity", "direct_similarity", "pass_on", "same_person", "odd_one_out")
    }
    for key, next_to in (("margin", settings.similarity), ("closer_by", settings.same_person)):
        chosen[key] = carried_margin(calibrations, model, getattr(settings, key), next_to, f"tags.{key}")
    value = {key: threshold.value for key, threshold in chosen.items()}
    naming = NamingRule(
        settings.neighbours, value["similarity"], value["direct_similarity"], value["margin"], value["pass_on"]
    )
    suspects = SuspectRule(value["same_person"], value["closer_by"], value["odd_one_out"])
    rules = SuggestRules(naming, suspects, settings.folds, settings.min_precision)
    return rules, {key: threshold.describe() for key, threshold in chosen.items()}


def suggestion_graph(
    vectors: np.ndarray, rules: SuggestRules, config: Config, tasks=None
) -> tuple[np.ndarray, np.ndarray]:
    """The kNN graph of ``vectors`` the suggester needs by ``rules``: indexed as config.index says, in
    shards of tags.shard_faces faces, on ``tasks`` (default: in this process)."""
    k = graph_neighbours(rules.naming.neighbours, len(vectors))
    return knn_graph(vectors, k, config.index.index_settings(), rules.graph_reach(), config.tags.shard_faces, tasks)


def _suggest_model(
    tables: str,
    scope: str,
    model: str,
    faces: pa.Table,
    named: dict[str, str],
    rejected: set,
    config: Config,
    tasks,
    full: bool,
) -> tuple[pa.Table, dict]:
    """The suggestions for ``model``'s ``faces`` of ``scope`` (FACE_ID, IMAGE_ID, URI, LIBRARY, BBOX,
    EMBEDDING), with what was decided on the way; the kNN graph the last run kept for the scope brought up
    to date unless ``full``."""
    storage = config.resolved_storage()
    rules, chosen = suggest_rules(config, model)
    face_ids = faces[S.FACE_ID].to_pylist()
    vectors = S.matrix(faces[S.EMBEDDING])
    k = graph_neighbours(rules.naming.neighbours, len(face_ids))
    kept = None if full else updated_graph(tables, storage, scope, model, face_ids, vectors, k)
    started = time.perf_counter()
    graph = kept[0] if kept else suggestion_graph(vectors, rules, config, tasks)
    graph_seconds = time.perf_counter() - started
    row_of = {face: i for i, face in enumerate(face_ids)}
    names = sorted(set(named.values()) | {name for _, name in rejected})
    name_id = {name: i for i, name in enumerate(names)}
    tags = np.full(len(face_ids), NO_NAME, np.int64)
    for face, name in named.items():
        if face in row_of:
            tags[row_of[face]] = name_id[name]
    found = suggest_names(
        vectors,
        np.unique(np.array(faces[S.IMAGE_ID].to_pylist()), return_inverse=True)[1],
        tags,
        [(row_of[f], name_id[n]) for f, n in rejected if f in row_of],
        graph,
        rules,
        shipped_prior(model),
    )
    save_graph(tables, storage, scope, model, face_ids, (found.similarities, found.neighbours))
    rows = found.rows
    libraries = faces[S.LIBRARY].to_pylist()
    evidence = found.evidence()
    suggestions = pa.table(
        {
            S.SCOPE: pa.array([scope] * len(rows), pa.string()),
            S.FACE_ID: pa.array([face_ids[r] for r in rows], pa.string()),
            S.IMAGE_ID: faces[S.IMAGE_ID].take(rows),
            S.URI: faces[S.URI].take(rows),
            S.LIBRARY: faces[S.LIBRARY].take(rows),
            S.BBOX: faces[S.BBOX].take(rows),
            S.NAME: pa.array([names[found.naming.name[r]] for r in rows], pa.string()),
            S.SCORE: pa.array(found.scores, pa.float32()),
            S.EVIDENCE: pa.array([[face_ids[t] for t in e] for e in evidence], pa.list_(pa.string())),
            S.EVIDENCE_LIBRARIES: pa.array([[libraries[t] for t in e] for e in evidence], pa.list_(pa.string())),
            S.METHOD: pa.array(
                [METHOD_DIRECT if h == 1 else METHOD_CHAIN for h in found.naming.hops[rows]], pa.string()
            ),
        }
    )
    described = {**found.describe(), "graph_seconds": round(graph_seconds, 2)}
    described["suspect_tags"] = sorted(face_ids[r] for r in found.suspects)
    described["graph"] = {"kept": True, **kept[1]} if kept else {"kept": False}
    described["thresholds"] = chosen
    if not len(found.table.edges):
        described["why_none"] = "no tagged face could be named from the others and no score table ships for the model"
    return suggestions, described


def suggest_tags(
    tables: str,
    config: Config | None = None,
    *,
    full: bool = False,
    changed_only: bool = False,
    run: RunRecorder | None = None,
) -> SuggestResult:
    """Suggest names for the untagged faces of the library at ``tables`` from the faces people tagged
    there, and replace its suggestions table; returns what was suggested. The kNN graph the last run
    kept is brought up to date for the faces added and removed since; ``full``: the graph is built anew
    and every suggestion issued anew (this run's id), pending ones included. ``changed_only``: only in the
    scopes whose faces, tags, libraries or settings changed since their last suggestions (the others keep
    their rows). A scope that fails keeps its earlier rows and runs again next time (the result lists it;
    exit code 1). Holds the library's lease and records the run (or is a step of ``run``). ConfigError when
    nobody has tagged a face yet."""
    config = config or load_config()
    call = python_call("suggest_tags", tables, full=full, changed_only=changed_only)
    return run_job(
        tables, config, "tags", run, call, lambda run: _suggest(tables, config, run.run_id, full, changed_only)
    )


def _suggest(tables: str, config: Config, run_id: str, full: bool, changed_only: bool) -> SuggestResult:
    started = time.perf_counter()
    storage = config.resolved_storage()
    tasks = None
    if config.tags.distributed:
        connect(config.ray)
        tasks = RayTasks()
    snapshot = TablesSnapshot(tables, storage)
    try:
        tag_rows = snapshot.read(S.TAGS_TABLE)
    except FileNotFoundError as missing:
        raise ConfigError(str(missing)) from None
    named, rejected = tags_in_force(tag_rows), rejections(tag_rows)
    stored = snapshot.faces(by_scope=True)
    owners = stored.read([S.FACE_ID, S.LIBRARY])
    last = _details(snapshot)
    found = scopes(read_circles(snapshot), pc.unique(owners[S.LIBRARY]).to_pylist())
    by_library = (library_digests(owners, [S.FACE_ID]), tag_digests(tag_rows, owners))
    plan = ScopePlan.of(
        found, config.tags.model_dump(), last.get(SCOPE_INPUTS, {}), changed_only and not full, *by_library
    )
    wanted = sorted({library for scope in plan.todo for library in scope.libraries})
    faces = stored.read([S.FACE_ID, S.IMAGE_ID, S.URI, S.LIBRARY, S.BBOX, S.MODEL, S.EMBEDDING], libraries=wanted)
    faces = faces.take(pc.sort_indices(faces[S.FACE_ID]))  # one order, however the rows lie in the files
    previous = {} if full else _previous(snapshot)
    inputs, sizes = {}, {}
    for scope in plan.todo:
        members = faces.filter(pc.is_in(faces[S.LIBRARY], pa.array(scope.libraries, pa.string())))
        inside = set(members[S.FACE_ID].to_pylist())  # the tags and rejections of the scope's faces only
        scope_named = {face: name for face, name in named.items() if face in inside}
        scope_rejected = {(face, name) for face, name in rejected if face in inside}
        inputs[scope.name] = (tables, scope.name, members, scope_named, scope_rejected, config, full)
        sizes[scope.name] = members.num_rows
    runs = run_scopes(_suggest_scope, inputs, sizes, config.ray.scope_pack_size, tasks)
    done = set(runs.results)
    parts = [runs.results[scope][0] for scope in sorted(done)]
    by_scope = {scope: runs.results[scope][1] for scope in sorted(done)}
    suggestions = pa.concat_tables([S.SUGGESTIONS_SCHEMA.empty_table().drop_columns([S.RUN_ID]), *parts])
    keys = list(
        zip(suggestions[S.SCOPE].to_pylist(), suggestions[S.FACE_ID].to_pylist(), suggestions[S.NAME].to_pylist())
    )
    run_ids = [previous.get(key, run_id) for key in keys]
    suggestions = suggestions.append_column(S.RUN_ID, pa.array(run_ids, pa.string())).select(S.SUGGESTIONS_SCHEMA.names)
    stored_scopes = set(last.get(SCOPE_INPUTS, {})) | {scope for scope, _, _ in previous}
    replaced = plan.replaced(done, stored_scopes, not last)
    redone = {scope for scope, _, _ in previous} if replaced is None else set(replaced)
    tags_per_name = Counter(named.values())
    by_bucket = Counter(tags_bucket(tags_per_name[name]) for name in suggestions[S.NAME].to_pylist())
    untagged = faces.num_rows - sum(1 for face in faces[S.FACE_ID].to_pylist() if face in named)
    summary = {
        "run_id": run_id,
        "full": full or not previous,
        "faces": faces.num_rows,
        "tags": len(named),
        "names": len(set(named.values())),
        "rejections": len(rejected),
        "suggestions": suggestions.num_rows,
        "new_suggestions": sum(1 for key in keys if key not in previous),
        "kept_suggestions": sum(1 for key in keys if key in previous),
        "dropped_suggestions": len({key for key in previous if key[0] in redone} - set(keys)),
        "suggestions_by_tags_per_person": {bucket: by_bucket.get(bucket, 0) for bucket in BUCKETS},
        "untagged_faces_without_suggestion": untagged - len(set(suggestions[S.FACE_ID].to_pylist())),
        "scopes": len(by_scope),
        "scopes_skipped": len(found) - len(plan.todo),
        "scopes_failed": runs.failed,
        "models": next(iter(by_scope.values())) if len(by_scope) == 1 else by_scope,
    }
    versions = {S.FACES_VERSION_KEY: snapshot.table(S.FACES_TABLE).version()}
    versions[S.TAGS_VERSION_KEY] = snapshot.table(S.TAGS_TABLE).version()
    details = {**summary, "settings": config.tags.model_dump(), SCOPE_INPUTS: plan.recorded(done)}
    write_suggestions(tables, suggestions, storage, versions, details, replaced)
    result = SuggestResult(**summary, seconds=round(time.perf_counter() - started, 2))
    log.info(
        "suggestions at %s: %d (%d new), %.1f s", tables, result.suggestions, result.new_suggestions, result.seconds
    )
    return result


def _details(snapshot: TablesSnapshot) -> dict:
    """How the last suggestions were made ({} before the first)."""
    try:
        return snapshot.details(S.SUGGESTIONS_TABLE, S.SUGGEST_KEY)
    except FileNotFoundError:
        return {}


def _suggest_scope(
    tasks,
    tables: str,
    scope: str,
    members: pa.Table,
    named: dict[str, str],
    rejected: set,
    config: Config,
    full: bool,
) -> tuple[pa.Table, dict]:
    """The suggestions of one scope's faces (``members``) from its tags, each model's faces apart, and how
    each model's were decided."""
    parts, by_model = [], {}
    for model in sorted(set(members[S.MODEL].to_pylist())):
        mine = members.filter(pc.equal(members[S.MODEL], model))
        if mine.num_rows < 2:
            continue
        suggestions, by_model[model] = _suggest_model(tables, scope, model, mine, named, rejected, config, tasks, full)
        parts.append(suggestions)
    return pa.concat_tables([S.SUGGESTIONS_SCHEMA.empty_table().drop_columns([S.RUN_ID]), *parts]), by_model
