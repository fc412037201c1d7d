"""The scheduled run over a library (``pipeline.nightly``, `facepipe nightly`): embed (incremental) ->
index update -> clustering (incremental; all faces again every nightly.recluster_every runs) ->
deduplication -> tag suggestions -> the people report -> upkeep of the tables (maintain_tables), each one
of the public job functions. A step runs only when its inputs changed since it last ran (the versions of
the tables it reads, as the tables it wrote record them). On a store of many libraries, clustering, dedup
and tag suggestions work only on the scopes (circles, libraries in no circle) whose inputs changed, small
scopes packed into Ray tasks; a scope that fails keeps its earlier rows, is named in the summary and the
runs table, and runs again the next night, while the others go on. The night is one run: one lease for
all its steps, one row in the runs table, one run id in every row it writes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.dedup.dedup_job import deduplicate
from pipeline.ingest.embed_job import embed
from pipeline.ingest.incremental import plan_run
from pipeline.ingest.libraries import assign_libraries
from pipeline.io import store
from pipeline.io.library_run import library_run, python_call
from pipeline.io.library_settings import faces_off
from pipeline.io.maintenance import maintain_tables
from pipeline.io.runs import RunRecorder
from pipeline.io.tables import TABLES, TablesSnapshot
from pipeline.io.tombstones import Tombstones
from pipeline.people.cluster_job import ClusterResult, cluster
from pipeline.people.report import report
from pipeline.progress import Progress
from pipeline.results import JobResult
from pipeline.search.face_index import index
from pipeline.tags.suggest_job import suggest_tags

STATE_FILE = "nightly.json"  # beside the tables: what each step was last made from


@dataclass(frozen=True)
class NightlyResult(JobResult):
    """The night's run id, its steps in order ({step, status ok / failed / skipped, seconds, and the
    step's figures or, when skipped, why: the per-scope steps say how many scopes ran and were skipped and
    which failed}), its seconds, and the photos that went missing (exit code 1, as for a failed scope: the
    next night picks them up)."""

    run_id: str
    steps: list
    seconds: float
    missing_photos: int

    @property
    def scopes_failed(self) -> dict:
        """Per step, the scopes that failed and why (each kept its earlier rows and runs again next night)."""
        return {step["step"]: step["failed_scopes"] for step in self.steps if step.get("scopes_failed")}

    @property
    def exit_code(self) -> int:
        return 1 if self.missing_photos or self.scopes_failed else 0

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "steps": self.steps,
            "scopes_failed": self.scopes_failed,
            "seconds": self.seconds,
        }


class _State:
    """What each step was last made from, kept at TABLES/_facepipe/nightly.json."""

    def __init__(self, tables: str, config: Config):
        self.uri = store.join(tables, S.METADATA_FOLDER, STATE_FILE)
        self.storage = config.resolved_storage()
        try:
            self.values: dict = json.loads(store.read_bytes(self.uri, self.storage))
        except FileNotFoundError:
            self.values = {}

    def save(self) -> None:
        store.write_text(self.uri, json.dumps(self.values, indent=2), self.storage)


def _unchanged(now: dict, then: dict) -> bool:
    return all(value is not None and then.get(key) == value for key, value in now.items())


def nightly(
    src: str,
    tables: str,
    config: Config | None = None,
    *,
    full: bool = False,
    library: str | None = None,
    libraries_by_folder: bool = False,
) -> NightlyResult:
    """Run the steps of config.nightly.steps on the library at ``tables`` for the photos of ``src``, each
    skipped when its inputs did not change (``full``: every step from scratch: recluster, compare every
    photo, rebuild the index). The photos are ``library``'s, or each of the library named after its folder
    below ``src`` (``libraries_by_folder``), as `embed` takes them. On a store of several libraries the
    steps that work on one library's tables only (the index, the people report) are skipped, saying so.
    Holds the library's lease for the whole night and records it as one run. Raises ConfigError for a
    configuration mistake, LeaseHeld when another run holds the library; a failing step stops the night
    (recorded as failed)."""
    config = config or load_config()
    started = time.perf_counter()
    call = python_call("nightly", src, tables, full=full, library=library, libraries_by_folder=libraries_by_folder)
    with library_run(tables, call, config) as run, Progress("nightly", len(config.nightly.steps), "step") as bar:
        missing = _night(src, tables, config, full, run, bar, library, libraries_by_folder)
    return NightlyResult(run.run_id, run.steps(), round(time.perf_counter() - started, 2), missing)


def _night(
    src: str,
    tables: str,
    config: Config,
    full: bool,
    run: RunRecorder,
    bar: Progress,
    library: str | None,
    by_folder: bool,
) -> int:
    """The steps, each a job function recording itself as a step of ``run`` (and a tick of ``bar``); the
    photos gone missing."""
    state = _State(tables, config)
    storage = config.resolved_storage()

    def versions() -> TablesSnapshot:
        """The library's tables as they are now."""
        return TablesSnapshot(tables, storage)

    def step(
        name: str, inputs: Callable[[TablesSnapshot], dict], work: Callable[[], object], why: str, one_library=False
    ) -> None:
        """Run ``work`` (step ``name``, returning its job's result) unless the input versions ``inputs`` gives
        equal those its last run recorded (``why``: what unchanged means), the step is not configured, or it
        works on one library only (``one_library``) and the store holds several."""
        if name not in config.nightly.steps:
            return
        if one_library and len(found := versions().libraries()) > 1:
            run.skip(name, f"it works on the tables of one library so far; the store holds {len(found)}")
        elif not full and _unchanged(inputs(versions()), state.values.get(name, {}).get("inputs", {})):
            run.skip(name, why)
        else:
            done = work()
            # a step some scopes of which failed runs again next night, whatever its inputs then
            made = {} if getattr(done, "scopes_failed", None) else inputs(versions())
            state.values[name] = {**state.values.get(name, {}), "inputs": made}
            state.save()
        bar.advance(1, step=name)

    missing = 0
    if "embed" in config.nightly.steps:
        listing = store.list_photos(src, storage, config.input.extensions)
        now = versions()
        committed = now.read(S.IMAGES_TABLE) if now.version(S.IMAGES_TABLE) is not None else None
        plan = None
        if committed is not None:
            named, libraries = assign_libraries(listing, committed, src, storage, library, by_folder)
            named, _ = Tombstones(tables, storage).kept(named)
            off = faces_off(now)
            plan = plan_run(named, committed, config.decode.fingerprints, config.decode.keypoints, libraries, off)
        if plan is not None and not (plan.todo.num_rows or plan.removed or plan.unfingerprinted) and not full:
            run.skip("embed", f"none of the {listing.num_rows} photos listed is new, changed or gone")
        else:
            missing = embed(
                src, tables, config, listing=listing, run=run, library=library, libraries_by_folder=by_folder
            ).missing
        bar.advance(1, step="embed")

    def faces_version(snapshot: TablesSnapshot) -> dict:
        return {"faces": snapshot.version(S.FACES_TABLE)}

    def circles_version(snapshot: TablesSnapshot) -> dict:
        """The circles' version (-1 before any circle): people, names and duplicates are found per scope."""
        version = snapshot.version(S.CIRCLES_TABLE)
        return {"circles": -1 if version is None else version}

    step(
        "index",
        faces_version,
        lambda: index(tables, config, rebuild=full, run=run),
        "no face added or removed since the index was updated",
        one_library=True,
    )

    def clustering() -> ClusterResult:
        runs = state.values.get("cluster", {}).get("runs_since_full", config.nightly.recluster_every)
        again = full or runs + 1 >= config.nightly.recluster_every
        found = cluster(tables, config, incremental=not again, changed_only=not full, run=run)
        state.values.setdefault("cluster", {})["runs_since_full"] = runs + 1 if found.incremental else 0
        return found

    step(
        "cluster",
        lambda s: {**faces_version(s), **circles_version(s)},
        clustering,
        "no face added or removed and no circle changed since the last clustering",
    )
    step(
        "dedup",
        lambda s: {"images": s.version(S.IMAGES_TABLE), **circles_version(s)},
        lambda: deduplicate(tables, config, full=full, changed_only=True, run=run),
        "no photo added, changed or removed and no circle changed",
    )
    if "tags" in config.nightly.steps and versions().version(S.TAGS_TABLE) is None:
        run.skip("tags", "nobody has tagged a face yet (facepipe tags add)")
        bar.advance(1, step="tags")
    else:
        step(
            "tags",
            lambda s: {"faces": s.version(S.FACES_TABLE), "tags": s.version(S.TAGS_TABLE), **circles_version(s)},
            lambda: suggest_tags(tables, config, full=full, changed_only=True, run=run),
            "no face and no tag added or removed and no circle changed since the last suggestions",
        )

    def people_report() -> None:
        with run.step("report") as counts:
            counts.update(report(tables, store.join(tables, "report"), config).as_dict())

    step(
        "report",
        lambda s: {"persons": s.version(S.PERSONS_TABLE)},
        people_report,
        "the people did not change",
        one_library=True,
    )

    if "maintain" in config.nightly.steps:  # every night: history expires with time, written or not
        before = _table_versions(versions())
        with run.step("maintain") as counts:
            figures = maintain_tables(tables, storage, config.output.history_days * 24)
            counts["tables_checkpointed"] = len(figures["checkpointed"])
            counts["data_files_deleted"] = figures["data_files_deleted"]
            counts["log_files_deleted"] = figures["log_files_deleted"]
            for name, files in figures["compacted"].items():
                counts[f"{name}_files"] = files["files_after"]
                counts[f"{name}_buckets_compacted"] = files["buckets_compacted"]
        _rebase(state.values, before, _table_versions(versions()))
        state.save()
        bar.advance(1, step="maintain")
    return missing


def _table_versions(snapshot: TablesSnapshot) -> dict[str, int]:
    return {name: version for name in TABLES if (version := snapshot.version(name)) is not None}


def _rebase(values: dict, before: dict[str, int], after: dict[str, int]) -> None:
    """Maintenance commits change no row: a step whose recorded inputs were the tables' versions before it
    records their versions after it, so that it is not run again for them."""
    for step in values.values():
        inputs = step.get("inputs", {})
        for name, version in inputs.items():
            if name in before and version == before[name]:
                inputs[name] = after[name]
