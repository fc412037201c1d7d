"""`dedup apply` and `dedup undo` with the library, the tables and the quarantine on a real S3 endpoint (moto)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import s3fs

from pipeline import schema as S
from pipeline.config import Config
from pipeline.dedup.apply import apply_duplicates, undo_apply
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import read_table
from tests.unit.dedup.test_apply import DUPLICATES, KEEPERS, RUN_ID, UNRELATED, library_photos, write_duplicates

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_apply_and_undo_all_on_s3(s3_endpoint: str) -> None:
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    for bucket in ("dedup-photos", "dedup-tables", "dedup-quarantine"):
        fs.mkdir(bucket)
    photos = library_photos()
    for relative, data in photos.items():
        fs.pipe(f"dedup-photos/library/{relative}", data)
    config = Config()
    write_duplicates("s3://dedup-tables/run", "s3://dedup-photos/library", photos, config.resolved_storage())

    def library() -> dict[str, bytes]:
        return {key.removeprefix("dedup-photos/library/"): fs.cat_file(key) for key in fs.find("dedup-photos/library")}

    dry = apply_duplicates("s3://dedup-tables/run", "s3://dedup-quarantine/q", config, dry_run=True)
    assert dry.moved == 3 and library() == photos and fs.find("dedup-quarantine") == []

    summary = apply_duplicates("s3://dedup-tables/run", "s3://dedup-quarantine/q", config)

    assert sorted(library()) == sorted([*KEEPERS, UNRELATED])
    assert summary.moved == 3 and summary.skipped == {"keeper": 1}
    assert summary.bytes_moved == sum(len(photos[r]) for r in DUPLICATES)
    for relative in DUPLICATES:  # the two x.jpg keep their folders: neither overwrites the other
        assert fs.cat_file(f"dedup-quarantine/q/{RUN_ID}/dedup-photos/library/{relative}") == photos[relative]
    assert summary.manifest.startswith("s3://dedup-quarantine/q/")
    manifest = json.loads(fs.cat_file(summary.manifest))
    assert sorted(e["uri"] for e in manifest["photos"]) == sorted(f"s3://dedup-photos/library/{r}" for r in DUPLICATES)
    assert {e["status"] for e in manifest["photos"]} == {"moved"}
    listed = store.list_photos("s3://dedup-photos/library", config.resolved_storage(), config.input.extensions)
    assert sorted(listed["uri"].to_pylist()) == sorted(f"s3://dedup-photos/library/{r}" for r in [*KEEPERS, UNRELATED])

    undone = undo_apply(summary.manifest, config)

    assert library() == photos
    assert undone.restored == 3 and undone.skipped == {}
    assert [key for key in fs.find("dedup-quarantine") if key.endswith(".jpg")] == []
    again = undo_apply(summary.manifest, config)
    assert again.restored == 0 and again.skipped == {"in_place": 3} and library() == photos


def test_apply_moves_a_local_library_into_an_s3_quarantine_and_back(s3_endpoint: str, tmp_path: Path) -> None:
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("dedup-local-quarantine")
    root = tmp_path / "library"
    photos = library_photos()
    for relative, data in photos.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / "b/x.jpg").write_bytes(b"edited after the dedup run")
    config = Config()
    write_duplicates(str(tmp_path / "tables"), str(root), photos, config.resolved_storage())

    summary = apply_duplicates(str(tmp_path / "tables"), "s3://dedup-local-quarantine/q", config)

    assert summary.moved == 2 and summary.skipped == {"changed": 1, "keeper": 1}
    assert not (root / "a/x.jpg").exists() and (root / "b/x.jpg").read_bytes() == b"edited after the dedup run"
    key = f"dedup-local-quarantine/q/{RUN_ID}/{str(root / 'a/x.jpg').lstrip('/')}"
    assert fs.cat_file(key) == photos["a/x.jpg"]

    undone = undo_apply(summary.manifest, config)

    assert undone.restored == 2
    assert (root / "a/x.jpg").read_bytes() == photos["a/x.jpg"]
    assert (root / "c/copy2.jpg").read_bytes() == photos["c/copy2.jpg"]
    assert not fs.exists(key)


def test_a_quarantine_inside_the_tables_or_the_photos_prefix_is_refused(s3_endpoint: str) -> None:
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    for bucket in ("refuse-photos", "refuse-tables"):
        fs.mkdir(bucket)
    photos = library_photos()
    for relative, data in photos.items():
        fs.pipe(f"refuse-photos/library/{relative}", data)
    config = Config()
    tables, library = "s3://refuse-tables/run", "s3://refuse-photos/library"
    write_duplicates(tables, library, photos, config.resolved_storage())
    before = sorted(fs.find("refuse-tables"))
    store.write_text(f"{tables}/{S.METADATA_FOLDER}/latest.json", json.dumps({"src": f"{library}/"}), None)
    inside = {
        f"{tables}/{S.IMAGES_TABLE}": ("tables", tables),
        f"{tables}/": ("tables", tables),
        f"s3a://refuse-tables/run/{S.METADATA_FOLDER}/": ("tables", tables),
        f"{tables}//quarantine": ("tables", tables),
        library: ("photos", f"{library}/"),
        "s3://refuse-photos/library/quarantine/": ("photos", f"{library}/"),
    }

    for move_to, (whose, place) in inside.items():
        for dry_run in (True, False):
            with pytest.raises(ConfigError, match=f"inside the library's {whose} at {re.escape(place)}"):
                apply_duplicates(tables, move_to, config, dry_run=dry_run)

    assert {key.removeprefix("refuse-photos/library/"): fs.cat_file(key) for key in fs.find("refuse-photos")} == photos
    added = sorted(set(fs.find("refuse-tables")) - set(before))
    assert [key for key in added if not key.startswith(f"refuse-tables/run/{S.RUNS_TABLE}/")] == [
        f"refuse-tables/run/{S.METADATA_FOLDER}/latest.json",  # the refusals wrote only their runs rows
        f"refuse-tables/run/{S.METADATA_FOLDER}/lease.json",  # and the lease, kept when let go (its generation)
    ]
    runs = read_table(tables, S.RUNS_TABLE, config.resolved_storage()).to_pylist()
    assert [row[S.EXIT_CODE] for row in runs] == [2] * len(inside)
    summary = apply_duplicates(tables, "s3://refuse-tables/run-quarantine", config)  # beside, not inside
    assert summary.moved == 3 and fs.exists(f"refuse-tables/run-quarantine/{RUN_ID}/refuse-photos/library/a/x.jpg")
