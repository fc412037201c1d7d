"""One writer per DST: the lease taken, held, renewed, let go, and taken over once expired, on a folder
and on S3 (moto's server); contenders racing for it, exactly one of them winning."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline import schema as S
from pipeline.io import store
from pipeline.io.conditional import conditional_object
from pipeline.io.lease import Lease, LeaseHeld

LEASE = store.join(S.METADATA_FOLDER, "lease.json")


def lease_file(dst: str) -> dict | None:
    try:
        return json.loads(store.read_bytes(store.join(dst, LEASE), None))
    except FileNotFoundError:
        return None


def left_by_killed_run(dst: str, expires_in: float) -> None:
    """The lease a run killed while holding ``dst`` left behind: never renewed, never let go."""
    at = dt.datetime.now(dt.timezone.utc)
    holder = {
        "owner": "killed@box:9",
        "run_id": "killed",
        "acquired_at": at.isoformat(),
        "heartbeat_at": at.isoformat(),
        "expires_at": (at + dt.timedelta(seconds=expires_in)).isoformat(),
    }
    assert conditional_object(store.join(dst, LEASE), None).create(json.dumps(holder).encode())


def test_a_held_lease_refuses_a_second_run_naming_the_holder_until_let_go(dst: str) -> None:
    with Lease(dst, None, "ann@box:1", run_id="run-a"):
        holder = lease_file(dst)
        assert (holder["owner"], holder["run_id"]) == ("ann@box:1", "run-a")
        with pytest.raises(LeaseHeld) as refused, Lease(dst, None, "bob@box:2", run_id="run-b"):
            pytest.fail("a second run took a held lease")
        assert refused.value.holder == holder
        assert "ann@box:1" in str(refused.value) and "run-a" in str(refused.value)
        assert holder["expires_at"] in str(refused.value)
    assert lease_file(dst)["released_at"]  # let go: kept, marked so, for the next generation to count from
    with Lease(dst, None, "bob@box:2", run_id="run-b"):
        assert lease_file(dst)["owner"] == "bob@box:2"


def test_the_holder_renews_its_lease_so_it_never_expires_while_it_runs(dst: str) -> None:
    with Lease(dst, None, "ann@box:1", ttl_s=1.5):
        first = lease_file(dst)
        time.sleep(2.0)  # longer than a lease lifetime: alive only because it was renewed
        renewed = lease_file(dst)
        assert renewed["heartbeat_at"] > first["heartbeat_at"] and renewed["acquired_at"] == first["acquired_at"]
        with pytest.raises(LeaseHeld), Lease(dst, None, "bob@box:2"):
            pass


def test_the_lease_of_a_killed_run_is_taken_over_once_expired(dst: str) -> None:
    left_by_killed_run(dst, expires_in=5)  # long enough for a loaded machine to try before it expires
    with pytest.raises(LeaseHeld, match="killed@box:9"), Lease(dst, None, "bob@box:2"):
        pass
    expires = dt.datetime.fromisoformat(lease_file(dst)["expires_at"])
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.1)
    with Lease(dst, None, "bob@box:2", run_id="next"):
        assert lease_file(dst)["run_id"] == "next"
    assert lease_file(dst)["released_at"]  # let go


def test_a_run_whose_lease_was_taken_over_notices_and_leaves_it(dst: str, caplog) -> None:
    with Lease(dst, None, "ann@box:1", ttl_s=0.6):
        lease = conditional_object(store.join(dst, LEASE), None)
        _, tag = lease.read()
        assert lease.replace(json.dumps({"owner": "bob@box:2"}).encode(), tag)  # taken over meanwhile
        deadline = time.monotonic() + 30  # a renewal is due every 0.2 s; a loaded machine may be late
        while "taken over by another run" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
    assert "taken over by another run" in caplog.text
    assert lease_file(dst) == {"owner": "bob@box:2"}  # ann's exit left bob's lease alone


@pytest.mark.parametrize("expired", [False, True], ids=["free", "expired"])
def test_of_runs_racing_for_the_lease_exactly_one_wins(dst: str, expired: bool) -> None:
    if expired:
        left_by_killed_run(dst, expires_in=-1)
    start = threading.Barrier(6)

    def contend(number: int) -> tuple[Lease, str]:
        lease = Lease(dst, None, f"run{number}@box:{number}")
        start.wait()
        try:
            lease.__enter__()
        except LeaseHeld as held:
            return lease, f"refused by {held.holder['owner']}"
        return lease, "won"

    with ThreadPoolExecutor(6) as pool:
        outcomes = dict(pool.map(contend, range(6)))

    winners = [lease for lease, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1
    assert sorted(outcomes.values())[:-1] == [f"refused by {winners[0].owner}"] * 5
    winners[0].__exit__(None, None, None)
    assert lease_file(dst)["released_at"]  # let go


def test_the_object_swaps_only_from_the_version_read(dst: str) -> None:
    target = conditional_object(store.join(dst, "_facepipe", "object"), None)
    assert target.read() is None and target.replace(b"x", "no-such-tag") is None
    first = target.create(b"one")
    assert first and target.create(b"two") is None and target.read() == (b"one", first)
    second = target.replace(b"two", first)
    assert second and target.replace(b"three", first) is None and target.read() == (b"two", second)
    assert not target.delete(first) and target.delete(second) and target.read() is None


def test_each_taking_of_the_lease_is_one_generation_above_the_last(dst: str) -> None:
    left_by_killed_run(dst, expires_in=-1)  # a lease written before generations: counted as 0
    with Lease(dst, None, "ann@box:1") as taken:
        assert (taken.generation, taken.taken_over) == (1, True)  # its holder never let go: it may be alive
        assert lease_file(dst)["generation"] == 1
    with Lease(dst, None, "bob@box:2") as after:
        assert (after.generation, after.taken_over) == (2, False)  # let go: its holder is done
    assert lease_file(dst)["generation"] == 2  # kept when let go, for the next to count from


def test_a_library_without_a_lease_counts_from_the_generation_its_tables_record(dst: str) -> None:
    with Lease(dst, None, "ann@box:1", recorded_generation=lambda: 6) as lease:
        assert (lease.generation, lease.taken_over) == (7, True)  # its lease removed: its last holder may be alive
    fresh = store.join(dst, "other")
    with Lease(fresh, None, "ann@box:1") as lease:
        assert (lease.generation, lease.taken_over) == (1, False)
