"""`facepipe dedup` end to end on real photos: every kind of copy grouped with its original, the
original kept, burst shots stacked apart, photos without faces, incremental runs, older tables."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.dedup_library import COPY_KINDS, make_copy
from pipeline import schema as S
from pipeline.io.tables import read_table

pytestmark = pytest.mark.timeout(900)

SOURCES = ["Tony_Blair/Tony_Blair_0001.jpg", "Serena_Williams/Serena_Williams_0003.jpg"]
OTHERS = ["Colin_Powell/Colin_Powell_0001.jpg", "Zico/Zico_0001.jpg", "Vladimir_Putin/Vladimir_Putin_0002.jpg"]
BURSTS = [  # two frames of one moment: PDQ 24-40 bits apart, as close as copies
    ("Britney_Spears/Britney_Spears_0001.jpg", "Britney_Spears/Britney_Spears_0002.jpg"),
    ("Renee_Zellweger/Renee_Zellweger_0010.jpg", "Renee_Zellweger/Renee_Zellweger_0013.jpg"),
]
NO_FACE_KINDS = ("png", "quality_50", "crop_75", "mirrored")
KIND_OF_COPY = {"byte_copy": S.KIND_EXACT, "png": S.KIND_SAME_PIXELS}
T0 = 1_600_000_000  # originals' modification time; copies are made later


def facepipe(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == expect, done.stderr[-3000:]
    return done


def summary_of(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def place(path: Path, data: bytes, when: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (when, when))
    return path


def no_face_photo() -> bytes:
    """A real photo without a face: a textured scene (scikit-image's coffee cup)."""
    from skimage import data as samples

    buffer = io.BytesIO()
    Image.fromarray(samples.coffee()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def library(lfw_images: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dedup")
    photos, copies = root / "photos", {}
    for k, name in enumerate([*SOURCES, *OTHERS, *(n for pair in BURSTS for n in pair)]):
        place(photos / "library" / Path(name).name, (lfw_images / name).read_bytes(), T0 + k)
    for source in SOURCES:
        data = (lfw_images / source).read_bytes()
        for k, kind in enumerate(COPY_KINDS):
            made, extension = make_copy(data, "jpg", kind)
            copy = place(photos / "copies" / kind / f"{Path(source).stem}.{extension}", made, T0 + 1000 + k)
            copies[str(copy)] = (str(photos / "library" / Path(source).name), kind)
    scene = place(photos / "library" / "coffee.jpg", no_face_photo(), T0)
    for k, kind in enumerate(NO_FACE_KINDS):
        made, extension = make_copy(scene.read_bytes(), "jpg", kind)
        copies[str(place(photos / "copies" / kind / f"coffee.{extension}", made, T0 + 2000 + k))] = (str(scene), kind)
    place(photos / "library" / "broken.jpg", (lfw_images / OTHERS[0]).read_bytes()[:300], T0)
    tables = root / "tables"
    facepipe("embed", "--input", str(photos), "--tables", str(tables))
    return {"root": root, "photos": photos, "tables": tables, "copies": copies}


def groups_of(tables: Path) -> dict[str, dict]:
    return {row[S.URI]: row for row in read_table(str(tables), S.DUPLICATES_TABLE).to_pylist()}


def test_every_copy_joins_its_original_which_is_kept(library: dict):
    summary = summary_of(facepipe("dedup", "--tables", str(library["tables"])))
    rows = groups_of(library["tables"])
    for copy, (original, kind) in library["copies"].items():
        assert copy in rows, f"{kind} copy not found"
        assert rows[copy][S.GROUP_ID] == rows[original][S.GROUP_ID], f"{kind} copy in another group"
        assert rows[copy][S.ROLE] == S.ROLE_DUPLICATE
        assert rows[copy][S.KIND] == KIND_OF_COPY.get(kind, S.KIND_NEAR_DUPLICATE), kind
    originals = {original for original, _ in library["copies"].values()}
    assert all(rows[uri][S.ROLE] == S.ROLE_KEEP for uri in originals), "the original is the keeper"
    assert json.loads(rows[next(iter(originals))][S.EVIDENCE])["decided_by"]
    assert set(rows) == set(library["copies"]) | originals, "nothing else is a duplicate"
    duplicates = [r for r in rows.values() if r[S.ROLE] == S.ROLE_DUPLICATE]
    assert summary["bytes_reclaimable"] == sum(r[S.SIZE] for r in duplicates) > 0
    assert summary["groups"] == len(originals) == 3
    assert summary["errors_apart"]["photos"] == 1 and summary["errors_apart"]["uris"][0].endswith("broken.jpg")
    assert sum(summary["duplicates_by_kind"].values()) == len(library["copies"])


def test_burst_shots_are_stacked_apart_never_duplicates(library: dict):
    rows = groups_of(library["tables"])
    stacks = {r[S.URI]: r[S.GROUP_ID] for r in read_table(str(library["tables"]), S.SIMILAR_TABLE).to_pylist()}
    for first, second in BURSTS:
        a, b = (str(library["photos"] / "library" / Path(name).name) for name in (first, second))
        assert a not in rows and b not in rows, "a burst shot is no duplicate"
        assert a in stacks and stacks.get(a) == stacks.get(b), "the two frames share a stack"


def test_incremental_run_compares_only_new_photos_and_keeps_group_ids(library: dict, lfw_images: Path):
    photos, tables = library["photos"], library["tables"]
    before = groups_of(tables)
    colin = photos / "library" / Path(OTHERS[0]).name
    mirrored, _ = make_copy(colin.read_bytes(), "jpg", "mirrored")
    added = place(photos / "later" / "Colin_Powell_0001_selfie.jpg", mirrored, T0 + 5000)
    removed = next(c for c, (_, kind) in library["copies"].items() if kind == "greyscale")
    shutil.move(removed, library["root"] / "greyscale-away.jpg")
    facepipe("embed", "--input", str(photos), "--tables", str(tables))
    summary = summary_of(facepipe("dedup", "--tables", str(tables)))
    assert summary["mode"] == "incremental" and summary["compared"] == 1
    after = groups_of(tables)
    assert removed not in after, "a removed photo leaves its group"
    assert after[str(added)][S.GROUP_ID] == after[str(colin)][S.GROUP_ID], "the new copy joins its original"
    kept = [uri for uri in before if uri in after]
    assert all(after[uri][S.GROUP_ID] == before[uri][S.GROUP_ID] for uri in kept), "group ids stay"
    full = summary_of(facepipe("dedup", "--tables", str(tables), "--full"))
    assert full["mode"] == "full" and groups_of(tables).keys() == after.keys(), "the same groups as a full run"


def test_older_tables_gain_the_signals_without_detecting_faces_again(lfw_images: Path, tmp_path: Path):
    photos, tables = tmp_path / "photos", tmp_path / "tables"
    for name in OTHERS:
        place(photos / Path(name).name, (lfw_images / name).read_bytes(), T0)
    facepipe("embed", "--input", str(photos), "--tables", str(tables), "--set", "decode.fingerprints=false")
    refused = facepipe("dedup", "--tables", str(tables), expect=2)
    assert "facepipe embed --input SRC --tables" in refused.stderr
    faces = read_table(str(tables), S.FACES_TABLE)
    rerun = facepipe("embed", "--input", str(photos), "--tables", str(tables))
    assert f"fingerprints added to {len(OTHERS)}" in rerun.stderr and "processed 0" in rerun.stderr
    assert read_table(str(tables), S.FACES_TABLE)[S.FACE_ID].to_pylist() == faces[S.FACE_ID].to_pylist()
    images = read_table(str(tables), S.IMAGES_TABLE)
    assert images[S.SHA256].null_count == 0 and np.all(np.array(images[S.PDQ_QUALITY].to_pylist()) > 0)
    assert summary_of(facepipe("dedup", "--tables", str(tables)))["groups"] == 0
