"""`facepipe nightly`: the scheduled run over a library: embed (incremental) -> index update -> clustering
(incremental; all faces again every nightly.recluster_every runs) -> deduplication -> tag suggestions ->
the people report. Each step runs only when its inputs changed since it last ran (the versions of the
tables it reads, as the tables it wrote record them); one run holds the library at a time (the lease
of jobs.library_run) and every run is a row of the runs table.

Exit codes: 0 done, 1 photos went missing (the next run picks them up), 2 a configuration mistake,
3 another run holds the library.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jobs.library_run import library_run
from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.dedup.dedup_job import run_dedup
from pipeline.ingest.embed_job import run_embed
from pipeline.ingest.incremental import plan_run
from pipeline.io import store
from pipeline.io.tables import TablesSnapshot
from pipeline.people.cluster_job import run_cluster
from pipeline.people.report import write_report
from pipeline.search.face_index import update_face_index
from pipeline.tags.suggest_job import run_suggest

STATE_FILE = "nightly.json"  # beside the tables: what the index and the report were last made from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="folder or s3:// prefix of photos")
    parser.add_argument("--output", required=True, help="folder or s3:// prefix of the library (tables)")
    parser.add_argument(
        "--full", action="store_true", help="every step from scratch: recluster, compare every photo, rebuild"
    )


class _State:
    """The nightly state kept at DST/_facepipe/nightly.json."""

    def __init__(self, dst: str, config: Config):
        self.uri = store.join(dst, S.METADATA_FOLDER, STATE_FILE)
        self.storage = config.resolved_storage()
        try:
            self.values: dict = json.loads(store.read_bytes(self.uri, self.storage))
        except FileNotFoundError:
            self.values = {}

    def save(self) -> None:
        store.write_text(self.uri, json.dumps(self.values, indent=2), self.storage)


def _snapshot(dst: str, config: Config) -> TablesSnapshot:
    return TablesSnapshot(dst, config.resolved_storage())


def _unchanged(now: dict, then: dict) -> bool:
    return all(value is not None and then.get(key) == value for key, value in now.items())


class _Steps:
    """The steps of a run as they happen: recorded in the runs table (through ``record``, a
    pipeline.io.runs.RunRecorder) and kept here for the summary."""

    def __init__(self, record):
        self.record = record
        self.done: list[dict] = []

    @contextmanager
    def run(self, name: str) -> Iterator[dict]:
        started = time.perf_counter()
        entry = {"step": name, "status": "failed"}
        self.done.append(entry)
        with self.record.step(name) as counts:
            yield counts
            entry.update(status="ok", seconds=round(time.perf_counter() - started, 2), **counts)

    def skip(self, name: str, why: str) -> None:
        self.record.skip(name, why)
        self.done.append({"step": name, "status": "skipped", "why": why})


def run_nightly(src: str, dst: str, config: Config, full: bool, record: _Steps) -> int:
    """The steps of config.nightly.steps on the library at ``dst``, each recorded with ``record``; the
    exit code."""
    state = _State(dst, config)
    code = 0

    def step(name: str, inputs: Callable[[TablesSnapshot], dict], work: Callable[[dict], None], why: str) -> None:
        """Run ``work`` as step ``name`` unless the input versions ``inputs`` gives equal those its last
        run recorded (``why``: what unchanged means) or the step is not configured."""
        if name not in config.nightly.steps:
            return
        now = inputs(_snapshot(dst, config))
        if not full and _unchanged(now, state.values.get(name, {}).get("inputs", {})):
            record.skip(name, why)
            return
        with record.run(name) as counts:
            work(counts)
        state.values[name] = {**state.values.get(name, {}), "inputs": inputs(_snapshot(dst, config))}
        state.save()

    if "embed" in config.nightly.steps:
        storage = config.resolved_storage()
        listing = store.list_photos(src, storage, config.input.extensions)
        try:
            committed = _snapshot(dst, config).read(S.IMAGES_TABLE)
        except FileNotFoundError:
            committed = None
        plan = plan_run(listing, committed, config.decode.signals) if committed is not None else None
        if plan is not None and not (plan.todo.num_rows or plan.removed or plan.unsigned) and not full:
            record.skip("embed", f"none of the {listing.num_rows} photos listed is new, changed or gone")
        else:
            with record.run("embed") as counts:
                summary = run_embed(src, dst, config, listing)
                counts.update({k: v for k, v in summary.as_dict().items() if isinstance(v, int)})
            code = 1 if summary.missing else 0

    def faces_version(snapshot: TablesSnapshot) -> dict:
        return {"faces": snapshot.version(S.FACES_TABLE)}

    def index(counts: dict) -> None:
        update = update_face_index(dst, store.join(dst, "index"), config, rebuild=full)
        counts.update({k: v for k, v in update.as_dict().items() if isinstance(v, (int, str))})

    step("index", faces_version, index, "no face added or removed since the index was updated")

    def cluster(counts: dict) -> None:
        runs = state.values.get("cluster", {}).get("runs_since_full", config.nightly.recluster_every)
        again = full or runs + 1 >= config.nightly.recluster_every
        summary = run_cluster(dst, config, incremental=not again)
        state.values.setdefault("cluster", {})["runs_since_full"] = 0 if not summary["incremental"] else runs + 1
        counts.update({k: v for k, v in summary.items() if isinstance(v, (int, bool))})

    step("cluster", faces_version, cluster, "no face added or removed since the last clustering")

    def dedup(counts: dict) -> None:
        summary = run_dedup(dst, config, full=full)
        counts.update({k: v for k, v in summary.items() if isinstance(v, int)})

    step("dedup", lambda s: {"images": s.version(S.IMAGES_TABLE)}, dedup, "no photo added, changed or removed")

    def tags_inputs(snapshot: TablesSnapshot) -> dict:
        return {"faces": snapshot.version(S.FACES_TABLE), "tags": snapshot.version(S.TAGS_TABLE)}

    def tags(counts: dict) -> None:
        summary = run_suggest(dst, config, full=full)
        counts.update({k: v for k, v in summary.items() if isinstance(v, int)})

    if "tags" in config.nightly.steps and _snapshot(dst, config).version(S.TAGS_TABLE) is None:
        record.skip("tags", "nobody has tagged a face yet (facepipe tags add)")
    else:
        step("tags", tags_inputs, tags, "no face and no tag added or removed since the last suggestions")

    def report(counts: dict) -> None:
        counts.update(write_report(dst, store.join(dst, "report"), config))

    step("report", lambda s: {"persons": s.version(S.PERSONS_TABLE)}, report, "the people did not change")
    return code


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    started = time.perf_counter()
    with library_run(args.output, args.command, config) as record:
        steps = _Steps(record)
        code = run_nightly(args.input, args.output, config, args.full, steps)
        print(
            json.dumps(
                {
                    "run_id": record.run_id,
                    "exit_code": code,
                    "steps": steps.done,
                    "seconds": round(time.perf_counter() - started, 2),
                },
                default=str,
            )
        )
        record.exit_code = code  # library_run records it in the runs table
    return code
