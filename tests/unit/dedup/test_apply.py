"""Tests for dedup apply and undo on local folders: what moves, what is refused, what comes back."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.dedup import apply as apply_module
from pipeline.dedup.apply import apply_duplicates, undo_apply
from pipeline.errors import ConfigError
from pipeline.ingest.incremental import plan_run
from pipeline.io import store
from pipeline.io.tables import read_table, write_dedup

RUN_ID = "20250101T000000Z-abcd1234"
CONFIG = Config()
KEEPERS = ("a/keep1.jpg", "c/keep2.jpg")
DUPLICATES = ("a/x.jpg", "b/x.jpg", "c/copy2.jpg")  # two photos named x.jpg: they must not meet
UNRELATED = "other/unrelated.jpg"


def jpeg(seed: int) -> bytes:
    """A small real JPEG of random colours."""
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def library_photos() -> dict[str, bytes]:
    """The library: relative path -> bytes (c/copy2.jpg is an exact copy of c/keep2.jpg)."""
    photos = {
        "a/keep1.jpg": jpeg(1),
        "a/x.jpg": jpeg(2),
        "b/x.jpg": jpeg(3),
        "c/keep2.jpg": jpeg(4),
        UNRELATED: jpeg(5),
    }
    photos["c/copy2.jpg"] = photos["c/keep2.jpg"]
    return photos


def duplicates_table(root: str, photos: dict[str, bytes]) -> pa.Table:
    """Two groups as a dedup run would write them; a/keep1.jpg, the keeper of g1, is also listed as a
    duplicate in g2 (it must never move)."""
    members = [
        ("g1", "a/keep1.jpg", S.KIND_NEAR_DUPLICATE, S.ROLE_KEEP),
        ("g1", "a/x.jpg", S.KIND_NEAR_DUPLICATE, S.ROLE_DUPLICATE),
        ("g1", "b/x.jpg", S.KIND_NEAR_DUPLICATE, S.ROLE_DUPLICATE),
        ("g2", "c/keep2.jpg", S.KIND_EXACT, S.ROLE_KEEP),
        ("g2", "c/copy2.jpg", S.KIND_EXACT, S.ROLE_DUPLICATE),
        ("g2", "a/keep1.jpg", S.KIND_NEAR_DUPLICATE, S.ROLE_DUPLICATE),
    ]
    rows = []
    for group, relative, kind, role in members:
        sha = hashlib.sha256(photos[relative]).hexdigest()
        rows.append(
            {
                S.GROUP_ID: group,
                S.IMAGE_ID: sha,
                S.URI: f"{root}/{relative}",
                S.KIND: kind,
                S.ROLE: role,
                S.SCORE: 1.0,
                S.EVIDENCE: json.dumps({"test": True}),
                S.SIZE: len(photos[relative]),
                S.SHA256: sha,
                S.RUN_ID: RUN_ID,
            }
        )
    return pa.Table.from_pylist(rows, schema=S.DUPLICATES_SCHEMA)


def write_duplicates(dst: str, root: str, photos: dict[str, bytes], storage: StorageConfig) -> None:
    write_dedup(dst, duplicates_table(root, photos), S.SIMILAR_SCHEMA.empty_table(), storage, 0, {})


@pytest.fixture()
def library(tmp_path: Path) -> tuple[Path, str, Path]:
    """A library folder of real JPEGs, its duplicates table at DST, and the quarantine folder."""
    root = tmp_path / "library"
    for relative, data in library_photos().items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    dst = str(tmp_path / "tables")
    write_duplicates(dst, str(root), library_photos(), StorageConfig())
    return root, dst, tmp_path / "quarantine"


def files_below(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def quarantined(quarantine: Path, root: Path, relative: str) -> Path:
    return quarantine / RUN_ID / str(root / relative).lstrip("/")


def test_apply_moves_exactly_the_duplicates_and_records_them(library) -> None:
    root, dst, quarantine = library
    photos = library_photos()

    summary = apply_duplicates(dst, str(quarantine), CONFIG)

    assert sorted(files_below(root)) == sorted([*KEEPERS, UNRELATED])
    for relative in DUPLICATES:
        assert quarantined(quarantine, root, relative).read_bytes() == photos[relative]
    assert summary.moved == 3
    assert summary.bytes_moved == sum(len(photos[r]) for r in DUPLICATES)
    assert summary.skipped == {"keeper": 1}
    assert summary.skipped_photos == [{"uri": str(root / "a/keep1.jpg"), "reason": "keeper"}]
    manifest = json.loads(Path(summary.manifest).read_text())
    assert Path(summary.manifest).parent.parent == quarantine
    assert (
        manifest["dedup_run_id"] == RUN_ID
        and manifest["run_id"] == summary.run_id
        and manifest["dst"] == dst
        and manifest["finished_at"]
    )
    entries = {entry["uri"]: entry for entry in manifest["photos"]}
    assert sorted(entries) == sorted(str(root / r) for r in DUPLICATES)
    for relative in DUPLICATES:
        entry = entries[str(root / relative)]
        assert entry["moved_to"] == str(quarantined(quarantine, root, relative))
        assert entry["sha256"] == hashlib.sha256(photos[relative]).hexdigest()
        assert entry["size"] == len(photos[relative]) and entry["status"] == "moved"
        assert entry["group_id"] == ("g2" if relative.startswith("c/") else "g1")


def test_the_next_embed_listing_sees_the_duplicates_gone_and_then_back(library) -> None:
    root, dst, quarantine = library
    extensions = CONFIG.input.extensions
    before = store.list_photos(str(root), StorageConfig(), extensions)
    committed = pa.Table.from_pylist(  # the images rows an embed run of that listing commits
        [{**row, S.STATUS: S.STATUS_OK, S.SHA256: "hashed"} for row in before.to_pylist()],
        schema=S.IMAGES_SCHEMA,
    )

    summary = apply_duplicates(dst, str(quarantine), CONFIG)
    plan = plan_run(store.list_photos(str(root), StorageConfig(), extensions), committed)

    assert plan.removed == sorted(str(root / r) for r in DUPLICATES)
    assert plan.new == [] and plan.changed == []

    undo_apply(summary.manifest, CONFIG)
    plan = plan_run(store.list_photos(str(root), StorageConfig(), extensions), committed)

    assert plan.removed == [] and plan.new == [] and plan.changed == []
    assert plan.unchanged == before.num_rows


def test_dry_run_moves_nothing_and_says_what_would_move(library) -> None:
    root, dst, quarantine = library
    before = files_below(root)

    summary = apply_duplicates(dst, str(quarantine), CONFIG, dry_run=True)

    assert files_below(root) == before
    assert not quarantine.exists()
    assert summary.dry_run is True and summary.manifest is None
    assert summary.moved == 3 and summary.skipped == {"keeper": 1}
    assert summary.bytes_moved == sum(len(before[r]) for r in DUPLICATES)


def test_photos_changed_or_missing_since_the_dedup_run_are_not_moved(library) -> None:
    root, dst, quarantine = library
    (root / "b/x.jpg").write_bytes(jpeg(99))
    (root / "c/copy2.jpg").unlink()

    summary = apply_duplicates(dst, str(quarantine), CONFIG)

    assert (root / "b/x.jpg").read_bytes() == jpeg(99)
    assert not quarantined(quarantine, root, "b/x.jpg").exists()
    assert not (root / "a/x.jpg").exists() and quarantined(quarantine, root, "a/x.jpg").exists()
    assert summary.moved == 1
    assert summary.skipped == {"changed": 1, "keeper": 1, "missing": 1}
    reasons = {item["uri"]: item["reason"] for item in summary.skipped_photos}
    assert reasons[str(root / "b/x.jpg")] == "changed" and reasons[str(root / "c/copy2.jpg")] == "missing"


def test_nothing_already_in_the_quarantine_is_overwritten(library) -> None:
    root, dst, quarantine = library
    occupant = quarantined(quarantine, root, "a/x.jpg")
    occupant.parent.mkdir(parents=True)
    occupant.write_bytes(b"someone else's file")

    summary = apply_duplicates(dst, str(quarantine), CONFIG)

    assert occupant.read_bytes() == b"someone else's file"
    assert (root / "a/x.jpg").read_bytes() == library_photos()["a/x.jpg"]
    assert summary.moved == 2 and summary.skipped == {"keeper": 1, "target_exists": 1}


def test_a_second_apply_finds_them_already_moved(library) -> None:
    root, dst, quarantine = library
    apply_duplicates(dst, str(quarantine), CONFIG)

    again = apply_duplicates(dst, str(quarantine), CONFIG)

    assert again.moved == 0 and again.skipped == {"already_moved": 3, "keeper": 1}


def test_undo_restores_every_photo_byte_identical_and_twice_is_harmless(library) -> None:
    root, dst, quarantine = library
    before = files_below(root)
    manifest = apply_duplicates(dst, str(quarantine), CONFIG).manifest

    undone = undo_apply(manifest, CONFIG)

    assert files_below(root) == before
    assert [name for name in files_below(quarantine) if name.endswith(".jpg")] == []
    assert undone.restored == 3 and undone.skipped == {}
    assert undone.bytes_restored == sum(len(before[r]) for r in DUPLICATES)

    again = undo_apply(manifest, CONFIG)

    assert files_below(root) == before
    assert again.restored == 0 and again.skipped == {"in_place": 3}


def test_undo_never_overwrites_a_file_now_at_the_original_place(library) -> None:
    root, dst, quarantine = library
    manifest = apply_duplicates(dst, str(quarantine), CONFIG).manifest
    (root / "a/x.jpg").write_bytes(b"a new photo took its place")

    undone = undo_apply(manifest, CONFIG)

    assert (root / "a/x.jpg").read_bytes() == b"a new photo took its place"
    assert quarantined(quarantine, root, "a/x.jpg").read_bytes() == library_photos()["a/x.jpg"]
    assert undone.restored == 2 and undone.skipped == {"occupied": 1}


def test_a_failed_move_keeps_its_source_and_the_others_still_move(library, monkeypatch) -> None:
    root, dst, quarantine = library
    real_moves = store.move_files

    def moves_failing_on_b(moves, storage: StorageConfig):
        for src, target in moves:
            if src.endswith("b/x.jpg"):
                yield OSError("disk full")
            else:
                yield from real_moves([(src, target)], storage)

    monkeypatch.setattr(apply_module.store, "move_files", moves_failing_on_b)
    summary = apply_duplicates(dst, str(quarantine), CONFIG)

    assert (root / "b/x.jpg").exists() and not (root / "a/x.jpg").exists()
    assert summary.moved == 2 and summary.skipped == {"failed": 1, "keeper": 1}
    statuses = {e["uri"]: e["status"] for e in json.loads(Path(summary.manifest).read_text())["photos"]}
    assert statuses[str(root / "b/x.jpg")] == "failed" and statuses[str(root / "a/x.jpg")] == "moved"


def test_a_crash_part_way_leaves_a_manifest_that_undo_can_use(library, monkeypatch) -> None:
    root, dst, quarantine = library
    before = files_below(root)
    real_moves, real_write = store.move_files, store.write_text
    writes: list[str] = []

    def moves_then_die(moves, storage: StorageConfig):
        for src, target in moves:
            if src.endswith("b/x.jpg"):
                raise KeyboardInterrupt  # the process is stopped after the first move
            yield from real_moves([(src, target)], storage)

    def write_only_once(uri: str, text: str, storage: StorageConfig) -> None:
        writes.append(uri)  # the second write (the outcomes) is lost too, as when the process is killed
        if len(writes) == 1:
            real_write(uri, text, storage)

    monkeypatch.setattr(apply_module.store, "move_files", moves_then_die)
    monkeypatch.setattr(apply_module.store, "write_text", write_only_once)
    with pytest.raises(KeyboardInterrupt):
        apply_duplicates(dst, str(quarantine), CONFIG)
    monkeypatch.undo()
    manifest = writes[0]

    assert not (root / "a/x.jpg").exists() and len(writes) == 2
    assert {e["status"] for e in json.loads(Path(manifest).read_text())["photos"]} == {"planned"}

    undone = undo_apply(manifest, CONFIG)

    assert files_below(root) == before
    assert undone.restored == 1 and undone.skipped == {"in_place": 2}


def test_a_quarantine_inside_the_library_is_refused(library) -> None:
    root, dst, _ = library
    store.write_text(f"{dst}/{S.METADATA_FOLDER}/latest.json", json.dumps({"src": str(root)}), StorageConfig())

    with pytest.raises(ConfigError, match="inside the library"):
        apply_duplicates(dst, str(root / "quarantine"), CONFIG)
    assert sorted(files_below(root)) == sorted(library_photos())


def record_library(dst: str, src: str) -> None:
    """The record the last embed run leaves beside the tables, naming the photos (SRC) it listed."""
    store.write_text(f"{dst}/{S.METADATA_FOLDER}/latest.json", json.dumps({"src": src}), StorageConfig())


def link(at: Path, target: Path) -> Path:
    at.symlink_to(target, target_is_directory=True)
    return at


# Spellings of a place inside the tables (DST = tmp/tables) or the photos (SRC = tmp/library), run with
# HOME and the working directory at tmp: (how it is written, whose inside it lies).
INSIDE = {
    "the tables": (lambda tmp: str(tmp / "tables"), "tables"),
    "the tables, trailing slashes": (lambda tmp: f"{tmp}/tables//", "tables"),
    "a table's folder": (lambda tmp: str(tmp / "tables" / S.IMAGES_TABLE), "tables"),
    "the tables' metadata folder": (lambda tmp: str(tmp / "tables" / S.METADATA_FOLDER), "tables"),
    "a new folder below the tables": (lambda tmp: str(tmp / "tables" / "quarantine"), "tables"),
    "dot segments": (lambda tmp: f"{tmp}/library/../tables/./images", "tables"),
    "repeated slashes": (lambda tmp: f"{tmp}/tables//images", "tables"),
    "relative": (lambda tmp: "./tables/images", "tables"),
    "home": (lambda tmp: "~/tables/images", "tables"),
    "a link to the tables": (lambda tmp: str(link(tmp / "to-tables", tmp / "tables") / "images"), "tables"),
    "a link to a table's folder": (lambda tmp: str(link(tmp / "to-images", tmp / "tables" / "images")), "tables"),
    "the photos": (lambda tmp: str(tmp / "library"), "photos"),
    "the photos, trailing slash": (lambda tmp: f"{tmp}/library/", "photos"),
    "a folder of photos": (lambda tmp: str(tmp / "library" / "a"), "photos"),
    "a new folder below the photos": (lambda tmp: f"{tmp}/tables/../library/./quarantine", "photos"),
    "relative, in the photos": (lambda tmp: "library/quarantine", "photos"),
    "home, in the photos": (lambda tmp: "~/library/quarantine/", "photos"),
    "a link to the photos": (lambda tmp: str(link(tmp / "to-library", tmp / "library") / "quarantine"), "photos"),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry run"])
@pytest.mark.parametrize("spelling", list(INSIDE))
def test_a_quarantine_inside_the_tables_or_the_photos_is_refused_however_it_is_spelled(
    library, monkeypatch, spelling: str, dry_run: bool
) -> None:
    root, dst, _ = library
    tmp = root.parent
    monkeypatch.setenv("HOME", str(tmp))
    monkeypatch.chdir(tmp)
    record_library(dst, str(root))
    spell, whose = INSIDE[spelling]
    move_to = spell(tmp)
    place = dst if whose == "tables" else str(root)
    before = files_below(root)

    with pytest.raises(ConfigError, match=f"inside the library's {whose} at {re.escape(place)}"):
        apply_duplicates(dst, move_to, CONFIG, dry_run=dry_run)

    assert files_below(root) == before
    assert [p for p in tmp.rglob("*") if p.name.startswith("apply-") or p.name == RUN_ID] == []


def test_the_tables_are_refused_when_the_photos_are_not_known(library) -> None:
    root, dst, _ = library
    before = files_below(root)
    assert not Path(dst, S.METADATA_FOLDER, "latest.json").exists()  # no embed run recorded its SRC

    with pytest.raises(ConfigError, match=f"inside the library's tables at {re.escape(dst)}"):
        apply_duplicates(dst, f"{dst}/{S.IMAGES_TABLE}", CONFIG)

    assert files_below(root) == before and not Path(dst, S.IMAGES_TABLE).exists()


def test_the_photos_are_refused_however_the_embed_run_spelled_them(library, monkeypatch) -> None:
    root, dst, _ = library
    monkeypatch.setenv("HOME", str(root.parent))
    record_library(dst, str(link(root.parent / "photos", root)) + "/")
    before = files_below(root)

    with pytest.raises(ConfigError, match="inside the library's photos at "):
        apply_duplicates(dst, "~/library/quarantine", CONFIG)

    assert files_below(root) == before


def test_a_destination_that_is_no_folder_nor_s3_is_refused(library, monkeypatch) -> None:
    root, dst, _ = library
    monkeypatch.chdir(root.parent)  # store would take file://... for a folder named "file:" here
    before = files_below(root)

    with pytest.raises(ConfigError, match="neither a folder nor an s3:// prefix"):
        apply_duplicates(dst, f"file://{dst}/images", CONFIG)

    assert files_below(root) == before and not (root.parent / "file:").exists()


def test_a_refused_apply_records_its_run_and_lets_go_of_the_library(library) -> None:
    root, dst, quarantine = library

    with pytest.raises(ConfigError):
        apply_duplicates(dst, f"{dst}/{S.IMAGES_TABLE}", CONFIG)

    runs = read_table(dst, S.RUNS_TABLE).to_pylist()
    assert [row[S.EXIT_CODE] for row in runs] == [2]
    assert apply_duplicates(dst, str(quarantine), CONFIG).moved == 3  # the lease is free again


@pytest.mark.parametrize("beside", ["library-quarantine", "tables-quarantine"])
def test_a_folder_beside_the_photos_or_tables_with_a_name_they_begin_is_accepted(library, beside: str) -> None:
    root, dst, _ = library
    record_library(dst, str(root))

    summary = apply_duplicates(dst, str(root.parent / beside), CONFIG)

    assert summary.moved == 3 and sorted(files_below(root)) == sorted([*KEEPERS, UNRELATED])


def test_a_folder_that_holds_the_photos_and_the_tables_is_accepted(library) -> None:
    root, dst, _ = library
    tmp = root.parent
    record_library(dst, str(root))
    before = files_below(root)

    summary = apply_duplicates(dst, str(tmp), CONFIG)

    assert summary.moved == 3 and sorted(files_below(root)) == sorted([*KEEPERS, UNRELATED])
    for relative in DUPLICATES:  # beside the photos and tables, not inside them
        assert quarantined(tmp, root, relative).read_bytes() == before[relative]
    assert read_table(dst, S.DUPLICATES_TABLE).num_rows == 6

    undo_apply(summary.manifest, CONFIG)

    assert files_below(root) == before and not (tmp / RUN_ID).exists()


def test_undo_removes_the_quarantine_folders_it_emptied_and_no_other(library) -> None:
    root, dst, quarantine = library
    manifest = apply_duplicates(dst, str(quarantine), CONFIG).manifest
    note = quarantined(quarantine, root, "a/notes.txt")  # someone put a file beside a moved photo
    note.write_text("mine")
    (quarantine / "empty-before").mkdir()

    undo_apply(manifest, CONFIG)

    folders = {str(p.relative_to(quarantine)) for p in quarantine.rglob("*") if p.is_dir()}
    kept = note.parent.relative_to(quarantine)
    assert folders == {S.METADATA_FOLDER, "empty-before", *(str(p) for p in kept.parents if p != Path(".")), str(kept)}
    assert note.read_text() == "mine"


def test_undo_refuses_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"photos": []}))

    with pytest.raises(ConfigError, match="not a manifest"):
        undo_apply(str(path), CONFIG)


def test_move_files_never_overwrites_and_keeps_a_source_it_could_not_move(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"a")
    (tmp_path / "b.jpg").write_bytes(b"b")
    (tmp_path / "taken.jpg").write_bytes(b"taken")
    moves = [
        (str(tmp_path / "a.jpg"), str(tmp_path / "deep/er/a.jpg")),
        (str(tmp_path / "b.jpg"), str(tmp_path / "taken.jpg")),
        (str(tmp_path / "gone.jpg"), str(tmp_path / "gone-moved.jpg")),
    ]

    outcomes = list(store.move_files(moves, StorageConfig()))

    assert outcomes[0] is None and (tmp_path / "deep/er/a.jpg").read_bytes() == b"a"
    assert not (tmp_path / "a.jpg").exists()
    assert isinstance(outcomes[1], FileExistsError)
    assert (tmp_path / "taken.jpg").read_bytes() == b"taken" and (tmp_path / "b.jpg").read_bytes() == b"b"
    assert isinstance(outcomes[2], FileNotFoundError) and not (tmp_path / "gone-moved.jpg").exists()


def test_undo_checks_the_bytes_it_put_back(library, monkeypatch) -> None:
    root, dst, quarantine = library
    manifest = apply_duplicates(dst, str(quarantine), CONFIG).manifest
    real_moves = store.move_files

    def moves_that_damage(moves, storage: StorageConfig):
        for src, target in moves:
            outcomes = list(real_moves([(src, target)], storage))
            with open(target, "ab") as damaged:
                damaged.write(b"!")
            yield from outcomes

    monkeypatch.setattr(apply_module.store, "move_files", moves_that_damage)
    undone = undo_apply(manifest, CONFIG)

    assert undone.restored == 0 and undone.skipped == {"verify_failed": 3}


def test_edited_copies_move_only_when_asked(tmp_path: Path) -> None:
    """A crop of a photo may have been made on purpose: apply leaves it unless --include-edits."""
    root, dst = tmp_path / "library", str(tmp_path / "tables")
    photos = {"keep.jpg": jpeg(7), "copy.jpg": jpeg(7), "crop.jpg": jpeg(8)}
    for relative, data in photos.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    members = [("keep.jpg", S.KIND_EXACT, S.ROLE_KEEP), ("copy.jpg", S.KIND_EXACT, S.ROLE_DUPLICATE)]
    members.append(("crop.jpg", S.KIND_CROP, S.ROLE_DUPLICATE))
    rows = [
        {
            S.GROUP_ID: "g",
            S.IMAGE_ID: relative,
            S.URI: str(root / relative),
            S.KIND: kind,
            S.ROLE: role,
            S.SCORE: 1.0,
            S.EVIDENCE: "{}",
            S.SIZE: len(photos[relative]),
            S.SHA256: hashlib.sha256(photos[relative]).hexdigest(),
            S.RUN_ID: RUN_ID,
        }
        for relative, kind, role in members
    ]
    write_dedup(
        dst, pa.Table.from_pylist(rows, schema=S.DUPLICATES_SCHEMA), S.SIMILAR_SCHEMA.empty_table(), None, 0, {}
    )

    kept = apply_duplicates(dst, str(tmp_path / "quarantine"), CONFIG)
    assert kept.moved == 1 and kept.skipped == {"edited": 1} and (root / "crop.jpg").exists()
    everything = apply_duplicates(dst, str(tmp_path / "quarantine"), CONFIG, include_edits=True)
    assert everything.moved == 1 and not (root / "crop.jpg").exists() and (root / "keep.jpg").exists()
