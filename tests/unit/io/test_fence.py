"""Fencing, on a folder and on S3 (moto's server): a commit checked under a lease fails once a newer generation
committed to its table or claimed it, with nothing in between to slip through (the check passed, then the other
commit, then this one: refused); on S3 a commit whose PUT lands after another's of the same version is refused
too (the conditional write); commits outside a lease are not fenced; files beside the tables are refused to a
run that lost its lease; a claim leaves every table's rows and pins as they were."""

from __future__ import annotations

import http.client
import http.server
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.io import fence as fence_module
from pipeline.io import store
from pipeline.io.conditional import conditional_object
from pipeline.io.fence import (
    APP_ID,
    Fence,
    LeaseLost,
    claim_tables,
    fenced_commit,
    holding,
    recorded_generation,
    write_modes,
)
from pipeline.io.lease import Lease, lease_uri, read_lease
from pipeline.io.library_run import library_run
from pipeline.io.tables import TABLES, read_table
from pipeline.io.tags_table import record_tags
from tests.unit.io.test_tags_table import write_library

pytestmark = pytest.mark.timeout(300)


@contextmanager
def held(dst: str) -> Iterator[Fence]:
    """DST held by a run, as library_run holds it: its lease, and its commits and files fenced by it."""
    with Lease(dst, None, "ann@box:1", run_id="ann") as lease:
        fence = Fence(dst, None, lease.generation)
        with holding(fence):
            yield fence


def take_over(dst: str) -> Fence:
    """What another run does when it takes DST's lease over (the generation after the lease's)."""
    lease = conditional_object(lease_uri(dst), None)
    data, tag = lease.read()
    holder = json.loads(data)
    holder.update(owner="bob@box:2", run_id="bob", generation=holder["generation"] + 1)
    assert lease.replace(json.dumps(holder).encode(), tag)
    return Fence(dst, None, holder["generation"])


STRAY = "part-stray.parquet"
TAG = pa.table({S.FACE_ID: ["solo.jpg-0"], S.NAME: ["Carl"], S.VERDICT: [S.VERDICT_TAG]})


def rows(*keys: int) -> pa.Table:
    return pa.table({"k": pa.array(keys, pa.int64()), "v": pa.array([f"v{k}" for k in keys])})


def table_at(dst: str, name: str = "things") -> str:
    """A table at DST written in two commits (two files, for a compaction), outside any lease, and a data file no
    commit names (for a vacuum)."""
    path = store.join(dst, name)
    options = store.delta_storage_options(dst)
    write_deltalake(path, rows(1, 2), mode="append", storage_options=options)
    write_deltalake(path, rows(3), mode="append", storage_options=options)
    stray = io.BytesIO()
    pq.write_table(rows(5), stray)
    store.write_bytes(store.join(path, STRAY), stray.getvalue(), None)
    return path


def state(path: str) -> tuple[int, list[int]]:
    table = DeltaTable(path, storage_options=store.delta_storage_options(path))
    return table.version(), sorted(table.to_pyarrow_table()["k"].to_pylist())


STALE_COMMITS: dict[str, Callable[[DeltaTable, CommitProperties], object]] = {
    "append": lambda t, p: write_deltalake(t, rows(9), mode="append", commit_properties=p),
    "overwrite": lambda t, p: write_deltalake(t, rows(9), mode="overwrite", commit_properties=p),
    "merge": lambda t, p: (
        t.merge(rows(9), "t.k = s.k", source_alias="s", target_alias="t", commit_properties=p)
        .when_not_matched_insert_all()
        .execute()
    ),
    "delete": lambda t, p: t.delete("k = 1", commit_properties=p),
    "compact": lambda t, p: t.optimize.compact(commit_properties=p),
    "vacuum": lambda t, p: t.vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True, commit_properties=p
    ),
}


def newer_generation_appends(path: str, fence: Fence) -> None:
    """A commit of ``fence``'s generation, as fenced_commit makes it for the run that holds it."""
    properties = CommitProperties(app_transactions=[Transaction(APP_ID, fence.generation)])
    options = store.delta_storage_options(path)
    write_deltalake(path, rows(4), mode="append", storage_options=options, commit_properties=properties)


# What the newer generation does between the stale run's check and its commit: a commit of its own, or the claim
# a run makes first when it takes over (the only fence of OPTIMIZE and VACUUM, whose commits delta-rs makes
# without the transaction)
WITHOUT_TRANSACTION = ("compact", "vacuum")
RACES = [
    (commit, newer)
    for commit in STALE_COMMITS
    for newer in ("appends", "claims")
    if not (commit in WITHOUT_TRANSACTION and newer == "appends")
]


@pytest.mark.parametrize(("commit", "newer"), RACES)
def test_a_commit_checked_before_a_newer_generation_committed_is_refused(dst: str, commit: str, newer: str) -> None:
    path = table_at(dst)
    with held(dst), pytest.raises(LeaseLost) as lost, fenced_commit(path, store.delta_storage_options(dst)) as made:
        table, properties = made  # checked: the lease and the table are this run's
        bob = take_over(dst)
        if newer == "claims":
            assert claim_tables(bob) == [path]
        else:
            newer_generation_appends(path, bob)
        after_bob = state(path)
        STALE_COMMITS[commit](table, properties)
    assert state(path) == after_bob  # nothing of the stale commit: same version, same rows
    assert store.read_bytes(store.join(path, STRAY), None)  # nor anything deleted
    assert "bob@box:2 (run bob, lease generation 2)" in str(lost.value)
    assert DeltaTable(path, storage_options=store.delta_storage_options(dst)).transaction_version(APP_ID) == 2


def test_a_run_that_finds_its_lease_taken_over_writes_nothing(dst: str) -> None:
    path = table_at(dst)
    before = state(path)
    beside = store.join(dst, S.METADATA_FOLDER, "latest.json")
    with held(dst):
        store.write_text(beside, "{}", None)  # still its lease: written
        take_over(dst)
        with pytest.raises(LeaseLost), fenced_commit(path, store.delta_storage_options(dst)) as (table, properties):
            write_deltalake(table, rows(9), mode="append", commit_properties=properties)
        with pytest.raises(LeaseLost, match="taken over by bob@box:2"):
            store.write_text(beside, '{"late": true}', None)
        with pytest.raises(LeaseLost):
            store.remove_file(beside, None)
    assert state(path) == before
    assert json.loads(store.read_bytes(beside, None)) == {}


def test_commits_under_a_lease_carry_its_generation_and_others_none(dst: str) -> None:
    path = table_at(dst)  # outside a lease: as before
    assert DeltaTable(path, storage_options=store.delta_storage_options(dst)).transaction_version(APP_ID) is None
    for generation in (1, 2):
        with held(dst) as fence, fenced_commit(path, store.delta_storage_options(dst)) as (table, properties):
            assert fence.generation == generation  # each taking of the lease: one more
            write_deltalake(table, rows(10 + generation), mode="append", commit_properties=properties)
        assert recorded_generation(dst, None) == generation
    other = table_at(dst.rstrip("/") + "-other")  # another library, no lease held: not fenced
    options = store.delta_storage_options(dst)
    with held(dst), fenced_commit(other, options) as (target, properties):
        assert properties.app_transactions is None
        write_deltalake(target, rows(7), mode="append", storage_options=options, commit_properties=properties)
    assert state(other)[1] == [1, 2, 3, 7]


def test_a_claim_keeps_every_table_readable_and_unchanged(dst: str) -> None:
    config = Config()
    write_library(dst, config.resolved_storage(), "s3://photos")
    record_tags(dst, TAG, config.resolved_storage())
    with library_run(dst, "facepipe first", load_config()):
        pass
    before = {name: read_table(dst, name) for name in (S.IMAGES_TABLE, S.FACES_TABLE, S.TAGS_TABLE)}
    versions = {name: state_version(dst, name) for name in (*before, S.RUNS_TABLE)}

    with held(dst):
        bob = take_over(dst)
        claimed = claim_tables(bob)

    assert sorted(claimed) == sorted(store.join(dst, name) for name in versions)
    for name, rows_before in before.items():
        assert read_table(dst, name).equals(rows_before), name  # the same rows, the images still pin the faces
    assert {name: state_version(dst, name) for name in versions} == {n: v + 1 for n, v in versions.items()}
    assert recorded_generation(dst, None) == bob.generation


def state_version(dst: str, name: str) -> int:
    return DeltaTable(store.join(dst, name), storage_options=store.delta_storage_options(dst)).version()


def test_a_run_leaves_no_row_once_it_lost_its_lease_and_the_next_claims_the_tables(dst: str) -> None:
    write_library(dst, Config().resolved_storage(), "s3://photos")
    with pytest.raises(LeaseLost), library_run(dst, "facepipe stalled", load_config()) as run:
        take_over(dst)
        record_tags(dst, TAG, Config().resolved_storage())
    assert store.join(dst, S.TAGS_TABLE) not in _tables(dst)  # its first tags were never committed
    assert run.run_id not in str(_runs(dst))  # nor its row

    holder = read_lease(dst, None)  # bob's, as taken over: never let go, expired at once below
    expired = {**holder, "expires_at": "2000-01-01T00:00:00+00:00"}
    _, tag = conditional_object(lease_uri(dst), None).read()
    assert conditional_object(lease_uri(dst), None).replace(json.dumps(expired).encode(), tag)
    with library_run(dst, "facepipe next", load_config()) as run:
        assert read_lease(dst, None)["generation"] == holder["generation"] + 1
        assert recorded_generation(dst, None) == holder["generation"] + 1  # every table claimed first
    assert [row[S.RUN_ID] for row in read_table(dst, S.RUNS_TABLE).to_pylist()] == [run.run_id]


def _tables(dst: str) -> list[str]:
    fs, root = store.filesystem(dst)
    return [store.join(dst, name) for name in TABLES if fs.exists(f"{root}/{name}/_delta_log")]


def _runs(dst: str) -> list[dict]:
    try:
        return read_table(dst, S.RUNS_TABLE).to_pylist()
    except FileNotFoundError:
        return []


class HoldingProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy in front of an S3 endpoint that holds the first PUT whose path ends with ``held_path``
    until ``release`` is set (``arrived`` is set when it comes), and records each PUT's If-None-Match header
    and the endpoint's answer."""

    def __init__(self, endpoint: str, held_path: str):
        self.target = urlparse(endpoint)
        self.held_path, self.arrived, self.release = held_path, threading.Event(), threading.Event()
        self.puts: list[tuple[str, str | None, int]] = []
        super().__init__(("127.0.0.1", 0), _Forward)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HoldingProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy = self.server
        if self.command == "PUT" and self.path.endswith(proxy.held_path) and not proxy.arrived.is_set():
            proxy.arrived.set()
            proxy.release.wait(60)
        upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
        upstream.request(self.command, self.path, body=body or None, headers=dict(self.headers.items()))
        answer = upstream.getresponse()
        data = answer.read()
        if self.command == "PUT":
            proxy.puts.append((self.path, self.headers.get("If-None-Match"), answer.status))
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, *args: object) -> None:
        pass


def test_on_s3_a_commit_whose_put_lands_after_a_newer_generations_is_refused(s3_endpoint: str) -> None:
    import s3fs

    bucket = f"fence-race-{time.time_ns()}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}).mkdir(bucket)
    dst = f"s3://{bucket}/library"
    path = table_at(dst)  # versions 0 and 1
    version_2 = "things/_delta_log/00000000000000000002.json"
    proxy = HoldingProxy(s3_endpoint, version_2)
    through_proxy = {**store.delta_storage_options(dst), "AWS_ENDPOINT_URL": proxy.endpoint}
    outcome: dict[str, BaseException] = {}

    def stale_append() -> None:
        try:
            with fenced_commit(path, through_proxy) as (table, properties):
                write_deltalake(table, rows(9), mode="append", commit_properties=properties)
        except BaseException as error:
            outcome["error"] = error

    with held(dst):
        committing = threading.Thread(target=stale_append)
        committing.start()
        assert proxy.arrived.wait(60), "the commit never reached S3"  # checked, its data written, its PUT held
        bob = take_over(dst)
        newer_generation_appends(path, bob)  # version 2, first
        after_bob = state(path)
        proxy.release.set()
        committing.join(60)
    proxy.shutdown()

    assert isinstance(outcome.get("error"), LeaseLost), outcome
    held_put = [(answer, condition) for put, condition, answer in proxy.puts if put.endswith(version_2)]
    assert held_put[0] == (412, "*")  # the held PUT: conditional, refused by S3 where bob's version 2 was
    assert state(path) == after_bob


def test_a_table_missing_at_the_check_and_created_by_a_newer_generation_is_not_written_into(dst: str) -> None:
    path = store.join(dst, "things")
    options = store.delta_storage_options(dst)
    with held(dst), pytest.raises(LeaseLost), fenced_commit(path, options) as (target, properties):
        assert target == path  # no table yet: this commit would create it
        newer_generation_appends(path, take_over(dst))  # the newer run creates it first
        after_bob = state(path)
        modes = write_modes(target, "append")
        write_deltalake(target, rows(9), **modes, storage_options=options, commit_properties=properties)
    assert state(path) == after_bob == (0, [4])


def test_a_newer_generation_that_takes_over_just_after_the_lease_was_read_still_refuses_the_commit(
    dst: str, monkeypatch
) -> None:
    path = table_at(dst)
    read = fence_module.read_lease

    def read_then_taken_over(tables: str, storage) -> dict | None:
        found = read(tables, storage)  # still this run's
        monkeypatch.setattr(fence_module, "read_lease", read)
        claim_tables(take_over(dst))  # the newer run, at once: its claim lands before this run's commit
        return found

    with held(dst):
        monkeypatch.setattr(fence_module, "read_lease", read_then_taken_over)
        with pytest.raises(LeaseLost), fenced_commit(path, store.delta_storage_options(dst)) as (table, properties):
            after_bob = state(path)
            write_deltalake(table, rows(9), mode="append", commit_properties=properties)
    assert state(path) == after_bob
