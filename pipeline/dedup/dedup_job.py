"""The dedup job (``pipeline.deduplicate``, `facepipe dedup`): read the images (and faces) tables at DST, link
copies (bytes, pixels, PDQ hashes), group them, choose each group's keeper, stack burst-like photos apart, and
write the duplicates and similar tables. After an embed run it compares only the new photos with the library."""

from __future__ import annotations

import json
import logging
import resource
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.dedup.candidates import VARIANTS, near_pairs
from pipeline.dedup.edited_links import edited_copies, edited_keepers, edited_ones, keeper_of
from pipeline.dedup.exposures import TURNED, two_exposures
from pipeline.dedup.groups import carry_group_ids, connected_groups, constrained_groups
from pipeline.dedup.keeper import ORDER, Copy
from pipeline.dedup.pairs import TWO_EXPOSURES, Links, PairRules, Photos, equal_value_links, judge
from pipeline.errors import ConfigError
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.main_face import central_faces_index
from pipeline.io import store
from pipeline.io.circles import read_circles, scopes
from pipeline.io.library_run import python_call, run_job
from pipeline.io.runs import RunRecorder
from pipeline.io.scope_inputs import SCOPE_INPUTS, ScopePlan, library_digests
from pipeline.io.tables import TablesSnapshot, write_dedup
from pipeline.results import PerScopeResult
from pipeline.runtime.ray_cluster import connect
from pipeline.runtime.ray_tasks import RayTasks
from pipeline.runtime.scope_work import run_scopes
from pipeline.runtime.tasks import Tasks
from pipeline.similarity.far_curves import CalibrationStore
from pipeline.similarity.thresholds import carried_threshold

log = logging.getLogger(__name__)

KIND_ORDER = {kind: rank for rank, kind in enumerate(S.KINDS)}


@dataclass(frozen=True)
class DedupResult(PerScopeResult):
    """What a dedup run found: groups of copies by kind, the bytes their duplicates take, the similar
    stacks, and the photos left apart because they could not be read."""

    run_id: str
    mode: str  # "full" or "incremental"
    scopes: int  # libraries in no circle, and circles, each compared within itself (this run)
    scopes_skipped: int  # unchanged since they were last compared (changed_only)
    scopes_failed: dict  # scope -> why it failed: its earlier rows are kept, it is compared anew next time
    photos: int
    compared: int  # photos compared with the library (new ones, or all)
    groups: int
    groups_by_kind: dict
    photos_in_groups: int
    duplicates_by_kind: dict
    bytes_reclaimable: int
    similar_stacks: int
    similar_photos: int
    errors_apart: dict  # photos with status error: never grouped
    same_person: dict  # the similarity threshold at which two central faces are one person, and where it came from
    seconds: float
    peak_memory_mb: int


def _fingerprints_missing(photos: pa.Table, tables: str, edits: bool) -> None:
    """Refuses tables whose photos lack what this run compares (keypoints only when edited copies are looked for)."""
    missing = pc.is_null(photos[S.SHA256])
    if edits:
        missing = pc.or_(missing, pc.is_null(photos[S.KEYPOINTS]))
    unfingerprinted = photos.filter(missing).num_rows
    if unfingerprinted:
        raise ConfigError(
            f"{unfingerprinted} of {photos.num_rows} photos at {tables} have no dedup fingerprints (tables written by "
            f"an earlier facepipe, or with decode.fingerprints{' or decode.keypoints' if edits else ''} off): run "
            f"`facepipe embed --input SRC --tables {tables}` to add them "
            "(faces are not detected again)"
        )


def _photos(images: pa.Table, faces: pa.Table) -> Photos:
    """The arrays the pair rules read, central faces included (``faces``: URI, BBOX, EMBEDDING of at least
    the photos' faces)."""
    n = images.num_rows
    captured = images[S.CAPTURED_AT].cast(pa.int64()).to_numpy(zero_copy_only=False)
    captured = np.where(pc.is_null(images[S.CAPTURED_AT]).to_numpy(zero_copy_only=False), np.nan, captured / 1e6)
    central = central_faces_index(images, faces)
    dim = S.matrix(faces[S.EMBEDDING]).shape[1] if faces.num_rows else 1
    face = np.zeros((n, dim), np.float32)
    has_face = np.zeros(n, bool)
    if central:
        vectors = S.matrix(faces[S.EMBEDDING])
        for row, uri in enumerate(images[S.URI].to_pylist()):
            if uri in central:
                face[row], has_face[row] = vectors[central[uri]], True
    quality = images[S.PDQ_QUALITY].fill_null(-1).to_numpy(zero_copy_only=False)
    return Photos(
        np.asarray(images[S.SHA256].to_pylist(), object),
        np.asarray(images[S.PIXEL_SHA256].to_pylist(), object),
        quality,
        captured,
        np.asarray(images[S.CAMERA].to_pylist(), object),
        face,
        has_face,
        images[S.WIDTH].fill_null(0).to_numpy(zero_copy_only=False),
        images[S.HEIGHT].fill_null(0).to_numpy(zero_copy_only=False),
    )


def pair_rules(config: Config, model: str | None) -> tuple[PairRules, dict]:
    """The pair rules of config.dedup, dedup.same_person carried to the faces' ``model`` by the threshold
    service, and where that threshold came from. Without a FAR curve for the model (or a model) faces
    decide nothing: stacking by the people in photos is off, and what is described says why and how to
    calibrate the model."""
    settings = config.dedup
    same_person, described = None, {"threshold": None, "why": "the faces table records no embedding model"}
    if model is not None:
        try:
            threshold = carried_threshold(CalibrationStore.of(config), model, settings.same_person, "dedup.same_person")
            same_person, described = threshold.value, threshold.describe()
        except ConfigError as exc:
            described = {"threshold": None, "why": f"photos are not stacked by the people in them: {exc}"}
            log.warning("%s", described["why"])
    rules = PairRules(
        settings.pdq_distance,
        settings.unframed_distance,
        settings.min_pdq_quality,
        settings.similar_distance,
        settings.burst_seconds,
        same_person,
    )
    return rules, described


def _earlier(snapshot: TablesSnapshot, tables: str, settings: dict) -> dict | None:
    """The last dedup run made with the same settings: per scope its groups (uri -> group id) and similar
    stacks, the scopes it compared and the photos; None when there is none (or its images version is
    gone)."""
    try:
        details = snapshot.details(S.DUPLICATES_TABLE, S.DEDUP_KEY)
        duplicates, similar = snapshot.read(S.DUPLICATES_TABLE), snapshot.read(S.SIMILAR_TABLE)
    except FileNotFoundError:
        return None
    if details.get("settings") != settings:
        return None
    version = snapshot.table(S.DUPLICATES_TABLE).history(1)[0].get(S.IMAGES_VERSION_KEY)
    try:
        then = DeltaTable(
            store.join(tables, S.IMAGES_TABLE), version=int(version), storage_options=snapshot.options
        ).to_pyarrow_table(columns=[S.URI, S.IMAGE_ID])
    except (FileNotFoundError, TableNotFoundError) as gone:  # its files vacuumed, or its log entry cleaned up
        log.info("the images version %s the last dedup compared is gone (%s): comparing every photo", version, gone)
        return None
    groups, stacks = defaultdict(dict), defaultdict(dict)
    for scope, uri, group in zip(*(duplicates[c].to_pylist() for c in (S.SCOPE, S.URI, S.GROUP_ID))):
        groups[scope][uri] = group
    for scope, uri, group in zip(*(similar[c].to_pylist() for c in (S.SCOPE, S.URI, S.GROUP_ID))):
        stacks[scope][uri] = group
    return {
        "groups": groups,
        "stacks": stacks,
        "scopes": set(details.get("scopes", [S.DEFAULT_SCOPE])),
        "compared": set(zip(then[S.URI].to_pylist(), then[S.IMAGE_ID].to_pylist())),
    }


def _chains(labels_by_uri: dict[str, str], uris: list[str]) -> Links:
    """Links chaining the photos (still present) of each earlier group: earlier verdicts kept."""
    index = {uri: k for k, uri in enumerate(uris)}
    members: dict[str, list[int]] = {}
    for uri, group in labels_by_uri.items():
        if uri in index:
            members.setdefault(group, []).append(index[uri])
    pairs = [(a, b) for rows in members.values() for a, b in zip(sorted(rows)[:-1], sorted(rows)[1:])]
    if not pairs:
        return Links.empty()
    i, j = np.array(pairs, np.int64).T
    return Links.of(i, j, "earlier")


def _best_links(links: Links) -> dict[int, tuple[int, int]]:
    """Per photo, its strongest link (exact, then same pixels, then the nearest hash): (link, other photo)."""
    best: dict[int, tuple[tuple, int, int]] = {}
    for k in range(len(links.i)):
        strength = (KIND_ORDER.get(links.kind[k], len(KIND_ORDER)), links.distance[k])
        for me, other in ((links.i[k], links.j[k]), (links.j[k], links.i[k])):
            if int(me) not in best or strength < best[int(me)][0]:
                best[int(me)] = (strength, k, int(other))
    return {photo: (k, other) for photo, (_, k, other) in best.items()}


def _duplicate_rows(
    images: pa.Table, links: Links, ids: dict[int, str], labels: np.ndarray, run_id: str, scope: str
) -> list[dict]:
    grouped = np.flatnonzero(labels >= 0)
    if not len(grouped):
        return []
    grouped = grouped[np.argsort(labels[grouped], kind="stable")]
    rows = images.select([S.URI, S.LIBRARY, S.IMAGE_ID, S.SIZE, S.SHA256, S.PIXEL_SHA256]).take(grouped).to_pylist()
    copies = [Copy.of(row) for row in images.select(list(Copy.COLUMNS)).take(grouped).to_pylist()]
    at = {int(photo): k for k, photo in enumerate(grouped)}  # photo -> its row here
    best = {at[photo]: (k, at[other]) for photo, (k, other) in _best_links(links).items() if photo in at}
    uris = [row[S.URI] for row in rows]
    row_of = {uri: k for k, uri in enumerate(uris)}
    edited = edited_ones(links, uris)
    edits_of = {  # (edited copy, its original) -> the link read back between them
        (row_of[d["edited"]], row_of[d["original"]]): k
        for k, d in enumerate(links.details)
        if d is not None and d.get("edited") in row_of and d.get("original") in row_of
    }
    out = []
    starts = np.flatnonzero(np.r_[True, labels[grouped][1:] != labels[grouped][:-1]])
    for first, stop in zip(starts, [*starts[1:], len(grouped)]):
        group = labels[grouped[first]]
        members = list(range(first, stop))
        # an edited copy (cropped, captioned, a screenshot, drawn over) is never the keeper while its group
        # holds the photo it was made from
        keeper, _, decided = keeper_of(members, copies, edited)
        for p in members:  # an edited copy of the keeper is shown as what its edit made it
            if (p, keeper) in edits_of:
                best[p] = (edits_of[p, keeper], keeper)
        kinds = {}
        for p in members:
            if rows[p][S.SHA256] == rows[keeper][S.SHA256]:
                kinds[p] = S.KIND_EXACT
            elif rows[p][S.PIXEL_SHA256] == rows[keeper][S.PIXEL_SHA256]:
                kinds[p] = S.KIND_SAME_PIXELS
            else:
                kinds[p] = links.kind[best[p][0]] if links.kind[best[p][0]] in S.EDIT_KINDS else S.KIND_NEAR_DUPLICATE
        for p in members:
            k, other = best[p]
            if p == keeper:
                kind = min((kinds[m] for m in members if m != keeper), key=KIND_ORDER.get)
                evidence = {"keeper_order": list(ORDER), "decided_by": decided, "keeper": copies[p].evidence()}
                score = 1.0
            else:
                kind = kinds[p]
                evidence = {"matched": rows[other][S.URI], **links.evidence(k), "copy": copies[p].evidence()}
                score = 1.0 if kind in (S.KIND_EXACT, S.KIND_SAME_PIXELS) else 1.0 - float(links.distance[k]) / 256
                if kind in S.EDIT_KINDS:
                    score = float(links.details[k]["agreement"])
            out.append(
                {
                    S.SCOPE: scope,
                    S.GROUP_ID: ids[int(group)],
                    S.IMAGE_ID: rows[p][S.IMAGE_ID],
                    S.URI: rows[p][S.URI],
                    S.LIBRARY: rows[p][S.LIBRARY],
                    S.KIND: kind,
                    S.ROLE: S.ROLE_KEEP if p == keeper else S.ROLE_DUPLICATE,
                    S.SCORE: score,
                    S.EVIDENCE: json.dumps(evidence),
                    S.SIZE: rows[p][S.SIZE],
                    S.SHA256: rows[p][S.SHA256],
                    S.RUN_ID: run_id,
                }
            )
    return out


def _similar_rows(
    images: pa.Table, links: Links, ids: dict[int, str], labels: np.ndarray, run_id: str, scope: str
) -> list[dict]:
    uris, image_ids, libraries = (images[c].to_pylist() for c in (S.URI, S.IMAGE_ID, S.LIBRARY))
    best = _best_links(links)
    out = []
    for p in np.flatnonzero(labels >= 0):
        k, other = best[int(p)]
        evidence = {"with": uris[other], **links.evidence(k)}
        out.append(
            {
                S.SCOPE: scope,
                S.GROUP_ID: ids[int(labels[p])],
                S.IMAGE_ID: image_ids[p],
                S.URI: uris[p],
                S.LIBRARY: libraries[p],
                S.SCORE: 1.0 - float(links.distance[k]) / 256,
                S.EVIDENCE: json.dumps(evidence),
                S.RUN_ID: run_id,
            }
        )
    return out


def _separate_exposures(near: Links, photos: Photos, uris: list[str], config: Config) -> tuple[Links, Links]:
    """(copies, two exposures): near duplicates read back and compared, but for those matched out of a
    frame."""
    if not config.dedup.exposure_residual:
        return near, Links.empty()
    checked = np.flatnonzero(np.isin(near.variant, [VARIANTS.index(name) for name in TURNED]))
    pairs = [(int(near.i[k]), int(near.j[k]), VARIANTS[near.variant[k]]) for k in checked]
    apart = np.zeros(len(near.i), bool)
    if pairs:
        apart[checked] = two_exposures(pairs, uris, PhotoChain.of(config), config.dedup.exposure_residual)
        log.info("%d candidate copies read back: %d are two exposures", len(pairs), int(apart.sum()))
    return near.take(~apart), near.take(apart, TWO_EXPOSURES)


def _between_keepers(links: Links, labels: np.ndarray, duplicates: pa.Table, uris: list[str]) -> Links:
    """Similar links with each copy standing for its group's keeper, between different groups only:
    a stack shows each photo once, by its best copy."""
    at = {uri: k for k, uri in enumerate(uris)}
    stand_in = np.arange(len(uris))
    keepers = duplicates.filter(pc.equal(duplicates[S.ROLE], S.ROLE_KEEP))[S.URI].to_pylist()
    keeper_of = {int(labels[at[uri]]): at[uri] for uri in keepers}
    grouped = labels >= 0
    stand_in[grouped] = [keeper_of[int(group)] for group in labels[grouped]]
    i, j = stand_in[links.i], stand_in[links.j]
    apart = i != j
    moved = Links(np.minimum(i, j), np.maximum(i, j), links.kind, links.distance, links.variant, links.details)
    return moved.take(apart)


def deduplicate(
    tables: str,
    config: Config | None = None,
    *,
    full: bool = False,
    changed_only: bool = False,
    tasks: Tasks | None = None,
    run: RunRecorder | None = None,
) -> DedupResult:
    """Find the copies among the photos of the library at ``tables`` and write its duplicates and
    similar tables; returns what was found. Compares only the photos added since the last run with the
    same settings, unless ``full`` (or there is none). ``changed_only``: only in the scopes whose photos,
    libraries or settings changed since they were last compared (the others keep their rows). A scope that
    fails keeps its earlier rows and is compared anew at the next run (the result lists it; exit code 1).
    ``tasks``: where the candidate search runs (default: Ray tasks with dedup.distributed, else this
    process). Holds the library's lease and records the run (or is a step of ``run``).

    Raises ConfigError when the images table lacks the dedup fingerprints (tables of an earlier version).
    """
    config = config or load_config()
    call = python_call("deduplicate", tables, full=full, changed_only=changed_only)
    return run_job(
        tables,
        config,
        "dedup",
        run,
        call,
        lambda run: _dedup(tables, config, run.run_id, tasks, full, changed_only),
    )


def _dedup(
    tables: str, config: Config, run_id: str, tasks: Tasks | None, full: bool, changed_only: bool
) -> DedupResult:
    started = time.monotonic()
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    images = snapshot.read(S.IMAGES_TABLE)
    images_version = snapshot.table(S.IMAGES_TABLE).version()
    errors = images.filter(pc.equal(images[S.STATUS], S.STATUS_ERROR))
    images = images.filter(pc.not_equal(images[S.STATUS], S.STATUS_ERROR))
    _fingerprints_missing(images, tables, config.dedup.edits)
    rules, same_person = pair_rules(config, snapshot.faces(by_scope=True).models.get("model"))
    settings = {**config.dedup.model_dump(exclude={"distributed"}), "same_person_threshold": rules.same_person}
    if tasks is None and config.dedup.distributed:
        connect(config.ray)
        tasks = RayTasks()
    earlier = None if full else _earlier(snapshot, tables, settings)
    last = _details(snapshot)
    before = last.get(SCOPE_INPUTS, {})
    found = scopes(read_circles(snapshot), pc.unique(images[S.LIBRARY]).to_pylist())
    plan = ScopePlan.of(found, settings, before, changed_only and not full, library_digests(_compared(images), _INPUTS))
    faces = snapshot.read(S.FACES_TABLE, [S.URI, S.BBOX, S.EMBEDDING])
    inputs, sizes = {}, {}
    for scope in plan.todo:
        mine = images.filter(pc.is_in(images[S.LIBRARY], pa.array(scope.libraries, pa.string())))
        if mine.num_rows:
            theirs = faces.filter(pc.is_in(faces[S.URI], mine[S.URI]))
            inputs[scope.name] = (
                scope.name,
                mine,
                theirs,
                _earlier_of(earlier, scope.name, mine),
                rules,
                config,
                run_id,
            )
            sizes[scope.name] = mine.num_rows
    runs = run_scopes(_dedup_scope, inputs, sizes, config.ray.scope_pack_size, tasks)
    done = set(runs.results)
    duplicates = pa.concat_tables([S.DUPLICATES_SCHEMA.empty_table(), *(runs.results[s][0] for s in sorted(done))])
    similar_rows = pa.concat_tables([S.SIMILAR_SCHEMA.empty_table(), *(runs.results[s][1] for s in sorted(done))])
    result = _result(
        run_id,
        duplicates,
        similar_rows,
        errors,
        images.num_rows,
        sum(runs.results[s][2] for s in done),
        earlier is not None,
        round(time.monotonic() - started, 1),
        same_person,
        len(done),
        len(found) - len(plan.todo),
        runs.failed,
    )
    compared_before = earlier["scopes"] if earlier is not None else set()
    kept = {scope for scope in compared_before if scope in plan.now and scope not in runs.failed}
    details = {
        "settings": settings,
        "summary": result.as_dict(),
        "scopes": sorted(kept | done),  # those whose rows hold every photo compared: the next run's earlier ones
        SCOPE_INPUTS: plan.recorded(done),
    }
    replaced = plan.replaced(done, set(before) | set(last.get("scopes", [])), not last)
    write_dedup(tables, duplicates, similar_rows, storage, images_version, details, replaced)
    return result


# what a scope's dedup is made from: its photos, as they are and whether they hold the fingerprints
_INPUTS = [S.URI, S.IMAGE_ID, S.STATUS, "fingerprinted"]


def _compared(images: pa.Table) -> pa.Table:
    """``images`` with whether each photo holds its fingerprints (filled in after its row, by embed)."""
    held = pc.and_(pc.is_valid(images[S.PDQ]), pc.is_valid(images[S.KEYPOINTS]))
    return images.select([S.LIBRARY, S.URI, S.IMAGE_ID, S.STATUS]).append_column("fingerprinted", held)


def _details(snapshot: TablesSnapshot) -> dict:
    """How the last dedup run was made ({} before the first)."""
    try:
        return snapshot.details(S.DUPLICATES_TABLE, S.DEDUP_KEY)
    except FileNotFoundError:
        return {}


def _earlier_of(earlier: dict | None, scope: str, images: pa.Table) -> dict | None:
    """What the last run left of ``scope`` (whose photos are ``images``): None when it did not compare the
    scope; else its groups and stacks and which of the scope's photos it compared."""
    if earlier is None or scope not in earlier["scopes"]:
        return None
    photos = set(zip(images[S.URI].to_pylist(), images[S.IMAGE_ID].to_pylist()))
    return {
        "groups": {scope: earlier["groups"].get(scope, {})},
        "stacks": {scope: earlier["stacks"].get(scope, {})},
        "compared": earlier["compared"] & photos,
    }


def _dedup_scope(
    tasks: Tasks | None,
    scope: str,
    images: pa.Table,
    faces: pa.Table,
    earlier: dict | None,
    rules: PairRules,
    config: Config,
    run_id: str,
) -> tuple[pa.Table, pa.Table, int]:
    """(duplicates rows, similar rows, photos compared) of one scope's ``images``: only those added since
    the ``earlier`` run compared with the rest, when there is one."""
    uris = images[S.URI].to_pylist()
    photos = _photos(images, faces)
    pdq, variants = images[S.PDQ].to_pylist(), images[S.PDQ_VARIANTS].to_pylist()
    radius = max(config.dedup.pdq_distance, config.dedup.unframed_distance, config.dedup.similar_distance)
    search = {"radius": radius, "k": config.dedup.candidates, "tasks": tasks}
    queries = None  # the photos compared with the library: all of them, or the new ones
    groups, stacks = (earlier["groups"].get(scope, {}), earlier["stacks"].get(scope, {})) if earlier else ({}, {})
    if earlier is None:
        candidates = near_pairs(pdq, variants, **search)
        carried = [Links.empty(), Links.empty()]
        compared_new = len(uris)
    else:
        new = np.array(
            [k for k, key in enumerate(zip(uris, images[S.IMAGE_ID].to_pylist())) if key not in earlier["compared"]],
            np.int64,
        )
        old = np.setdiff1d(np.arange(len(uris)), new)
        candidates = np.concatenate(
            [
                near_pairs(pdq, variants, queries=new, **search),
                near_pairs(pdq, variants, queries=old, targets=new, **search),
            ]
        )
        carried = [_chains(groups, uris), _chains(stacks, uris)]
        compared_new, queries = len(new), new
    near, similar = judge(candidates, photos, rules)
    near, exposures = _separate_exposures(near, photos, uris, config)
    near = near.take(np.argsort(near.distance, kind="stable"))  # the closest copies join first
    copies = Links.concat(
        [
            equal_value_links(photos.sha256, S.KIND_EXACT),
            equal_value_links(photos.pixel_sha256, S.KIND_SAME_PIXELS),
            carried[0],
            near,
        ]
    )
    chain = PhotoChain.of(config)
    if config.dedup.edits:  # the pairs the hashes' check called two exposures are checked again, with the rest
        linked = connected_groups(len(uris), copies.i, copies.j)
        edited, exposures = edited_copies(
            images, uris, linked, exposures, config.dedup.keypoint_matches, chain, tasks, queries
        )
        copies = Links.concat([copies, edited])  # file copies join before edited ones
    similar = Links.concat([similar, exposures])
    two_shots = similar.take(similar.kind == TWO_EXPOSURES)
    labels = constrained_groups(len(uris), copies.i, copies.j, np.stack([two_shots.i, two_shots.j], axis=1))
    joined = (labels[copies.i] == labels[copies.j]) & (labels[copies.i] >= 0)
    copies = copies.take(joined)  # a link skipped is no evidence of a group
    if config.dedup.edits:
        copies = Links.concat([copies, edited_keepers(images, uris, copies, labels, chain, tasks)])
    ids = carry_group_ids(labels, uris, groups, scope)
    rows = _duplicate_rows(images, copies, ids, labels, run_id, scope)
    duplicates = pa.Table.from_pylist(rows, schema=S.DUPLICATES_SCHEMA)
    stacked = _between_keepers(Links.concat([similar, carried[1]]), labels, duplicates, uris)
    stack_labels = connected_groups(len(uris), stacked.i, stacked.j)
    stack_ids = carry_group_ids(stack_labels, uris, stacks, scope)
    similar_rows = pa.Table.from_pylist(
        _similar_rows(images, stacked, stack_ids, stack_labels, run_id, scope), schema=S.SIMILAR_SCHEMA
    )
    return duplicates, similar_rows, compared_new


def _result(
    run_id: str,
    duplicates: pa.Table,
    similar: pa.Table,
    errors: pa.Table,
    photos: int,
    compared: int,
    incremental: bool,
    seconds: float,
    same_person: dict,
    scopes_compared: int,
    scopes_skipped: int,
    scopes_failed: dict,
) -> DedupResult:
    rows = duplicates.to_pylist()
    keepers = {r[S.URI] for r in rows if r[S.ROLE] == S.ROLE_KEEP}
    duplicate_rows = [r for r in rows if r[S.ROLE] == S.ROLE_DUPLICATE]
    groups_by_kind = Counter(kind for kind, _ in {(r[S.KIND], r[S.GROUP_ID]) for r in duplicate_rows})
    # what `dedup apply` may move: a photo a duplicate in every scope it is in, once
    removable = list({r[S.URI]: r for r in duplicate_rows if r[S.URI] not in keepers}.values())
    return DedupResult(
        run_id=run_id,
        mode="incremental" if incremental else "full",
        scopes=scopes_compared,
        scopes_skipped=scopes_skipped,
        scopes_failed=scopes_failed,
        photos=photos,
        compared=compared,
        groups=len({(r[S.SCOPE], r[S.GROUP_ID]) for r in rows}),
        groups_by_kind={kind: groups_by_kind.get(kind, 0) for kind in S.KINDS},
        photos_in_groups=len({r[S.URI] for r in rows}),
        duplicates_by_kind={kind: sum(r[S.KIND] == kind for r in removable) for kind in S.KINDS},
        bytes_reclaimable=int(sum(r[S.SIZE] or 0 for r in removable)),
        similar_stacks=len(set(zip(similar[S.SCOPE].to_pylist(), similar[S.GROUP_ID].to_pylist()))),
        similar_photos=len(set(similar[S.URI].to_pylist())),
        errors_apart={"photos": errors.num_rows, "uris": errors[S.URI].to_pylist()[:20]},
        same_person=same_person,
        seconds=seconds,
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
