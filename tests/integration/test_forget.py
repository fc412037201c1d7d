"""`facepipe forget` on a store of LFW photos in three libraries that went through every job: what is forgotten
leaves every table, page, index and old file, the other libraries keep exactly their rows and results, and what is
forgotten stays forgotten until it is lifted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import s3fs
from deltalake import DeltaTable

from jobs.cli import main
from pipeline import schema as S
from pipeline.io.tables import TABLES, TablesSnapshot, read_table
from pipeline.io.tags_table import record_tags
from tests.integration.test_fencing import frozen_past_its_lease, tables_now
from tests.photos import copy_lfw

pytestmark = pytest.mark.timeout(900)

LIBRARIES = ("anna", "ben", "carl")


def run(capsys, *args: str, expect: int = 0) -> dict:
    code = main([*args, "--set", "output.commit_every=6"])
    printed = capsys.readouterr()
    assert code == expect, printed.err[-3000:]
    return json.loads(printed.out.strip().splitlines()[-1]) if code == 0 else {}


def build_store(tmp_path: Path, lfw_images: Path, capsys, dst: str | None = None, photos: str | None = None) -> str:
    """Three libraries of 8 people seen once, 4 photos of George W Bush (2 tagged) and one photo twice (a
    duplicate group); anna and carl share a circle; then an index per library, cluster, suggest, dedup, a
    report and a review page per library, all below the store ``dst`` (default: a folder of ``tmp_path``).
    ``photos``: where the libraries' folders are put (default: tmp_path/photos; an s3:// prefix)."""
    bush = sorted((lfw_images / "George_W_Bush").glob("*.jpg"))
    dst = dst or str(tmp_path / "dst")
    for k, name in enumerate(LIBRARIES):
        folder = tmp_path / "photos" / name
        copy_lfw(lfw_images, folder, 8, start=8 * k)
        for photo in bush[4 * k : 4 * k + 4]:
            shutil.copy(photo, folder / photo.name)
        shutil.copy(bush[4 * k], folder / f"copy of {bush[4 * k].name}")
        src = str(folder)
        if photos is not None:
            src = f"{photos}/{name}"
            s3fs.S3FileSystem().put(str(folder), src.removeprefix("s3://"), recursive=True)
        run(capsys, "embed", "--input", src, "--tables", dst, "--library", name)
    run(capsys, "circles", "set", "--tables", dst, "--circle", "family", "--libraries", "anna", "carl")
    for name in LIBRARIES:
        faces = read_table(dst, S.FACES_TABLE, library=name).sort_by(S.URI)
        tagged = [f for f, uri in zip(faces[S.FACE_ID].to_pylist(), faces[S.URI].to_pylist()) if "Bush_" in uri][1:3]
        record_tags(dst, pa.table({S.FACE_ID: tagged, S.NAME: ["George"] * 2, S.VERDICT: ["tag"] * 2}))
    for name in LIBRARIES:
        run(capsys, "index", "--tables", dst, "--library", name)
    run(capsys, "cluster", "--tables", dst)
    run(capsys, "tags", "suggest", "--tables", dst)
    run(capsys, "dedup", "--tables", dst)
    for name in LIBRARIES:
        run(capsys, "report", "--tables", dst, "--output", f"{dst}/pages/people-{name}", "--library", name)
        run(capsys, "dedup", "review", "--tables", dst, "--output", f"{dst}/pages/dups-{name}", "--library", name)
    return dst


def of_library(dst: Path | str, name: str) -> dict[str, list]:
    """Every row of every table that is ``name``'s (or, for the tags, on its faces), sorted."""
    snapshot = TablesSnapshot(str(dst))
    faces = set(snapshot.read(S.FACES_TABLE, [S.FACE_ID], libraries=[name])[S.FACE_ID].to_pylist())
    rows = {}
    for table in (
        S.IMAGES_TABLE,
        S.FACES_TABLE,
        S.CLUSTERS_TABLE,
        S.PERSONS_TABLE,
        S.DUPLICATES_TABLE,
        S.SUGGESTIONS_TABLE,
    ):
        read = snapshot.read(table)
        if table == S.PERSONS_TABLE:
            read = read.filter(pc.equal(read[S.SCOPE], f"library/{name}"))
        else:
            read = read.filter(pc.equal(read[S.LIBRARY], name))
        rows[table] = sorted(read.to_pylist(), key=str)
    tags = snapshot.read(S.TAGS_TABLE)
    rows[S.TAGS_TABLE] = sorted(
        tags.filter(pc.is_in(tags[S.FACE_ID], value_set=pa.array(sorted(faces)))).to_pylist(), key=str
    )
    return rows


def sought(dst: str, tmp_path: Path, library: str) -> list[str]:
    """What to audit for ``library`` once it may be gone: its uris and its embeddings, kept before (after, no row
    says what they were), as `facepipe audit` arguments."""
    faces = read_table(dst, S.FACES_TABLE, library=library)
    uris = tmp_path / f"{library}-uris.txt"
    uris.write_text("\n".join(sorted(set(read_table(dst, S.IMAGES_TABLE, library=library)[S.URI].to_pylist()))))
    vectors = tmp_path / f"{library}.npy"
    np.save(vectors, np.array(faces[S.EMBEDDING].to_pylist(), np.float32))
    return ["--library", library, "--uris", str(uris), "--embeddings", str(vectors)]


def audited(capsys, dst: str, *selectors: str) -> list[dict]:
    """The files `facepipe audit` finds holding the data of ``selectors`` under ``dst`` (exit 1 when any)."""
    code = main(["audit", "--tables", dst, *selectors])
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["files_found"]
    assert code == (1 if found else 0)
    return found


def test_forget_a_library_everywhere_and_keep_it_forgotten(tmp_path: Path, lfw_images: Path, capsys):
    dst = Path(build_store(tmp_path, lfw_images, capsys))
    DeltaTable(str(dst / S.FACES_TABLE)).create_checkpoint()
    anna = read_table(str(dst), S.IMAGES_TABLE, library="anna")
    needles = set(anna[S.URI].to_pylist()) | set(anna[S.IMAGE_ID].to_pylist())
    anna_data = sought(str(dst), tmp_path, "anna")
    held = audited(capsys, str(dst), *anna_data)
    kinds = {(found["path"].split("/")[0], found["kind"]) for found in held}
    for table in (S.IMAGES_TABLE, S.FACES_TABLE, S.CLUSTERS_TABLE, S.DUPLICATES_TABLE, S.SUGGESTIONS_TABLE):
        assert (table, "delta data file") in kinds, table
    assert any(kind == "delta log" for _, kind in kinds), "a commit's statistics name one of anna's photos"
    assert (S.FACES_TABLE, "delta checkpoint") in kinds and ("index", "faiss index") in kinds
    assert ("pages", "html") in kinds and ("pages", "jpeg") in kinds, "the positive control: anna's data is there"
    bens = of_library(dst, "ben")
    assert bens[S.CLUSTERS_TABLE] and bens[S.DUPLICATES_TABLE] and bens[S.SUGGESTIONS_TABLE]

    done = run(capsys, "forget", "--tables", str(dst), "--library", "anna")
    assert (done["photos"], done["circles_left"]) == (anna.num_rows, 1) and done["faces"] >= 12
    assert audited(capsys, str(dst), *anna_data) == []
    assert of_library(dst, "ben") == bens, "ben's rows, people, names and duplicates are untouched"
    assert not (dst / "pages" / "people-anna").exists() and (dst / "pages" / "people-ben" / "index.html").is_file()
    for table in TABLES:
        if (
            TablesSnapshot(str(dst)).version(table) is not None
            and S.LIBRARY in TablesSnapshot(str(dst)).read(table).column_names
        ):
            assert "anna" not in TablesSnapshot(str(dst)).read(table)[S.LIBRARY].to_pylist()
    assert read_table(str(dst), S.CIRCLES_TABLE).num_rows == 0, "a circle of one library is no circle"
    runs = read_table(str(dst), S.RUNS_TABLE).to_pylist()
    recorded = next(row for row in runs if row[S.RUN_ID] == done["run_id"])
    assert not any(needle in json.dumps(recorded, default=str) for needle in needles)

    again = run(
        capsys, "embed", "--input", str(tmp_path / "photos" / "anna"), "--tables", str(dst), "--library", "anna"
    )
    assert (again["forgotten"], again["new"]) == (anna.num_rows, 0), "still at SRC, still forgotten"
    assert audited(capsys, str(dst), *anna_data) == []
    lifted = run(capsys, "forget", "--tables", str(dst), "--library", "anna", "--lift")
    assert lifted["tombstones_lifted"] == anna.num_rows
    back = run(capsys, "embed", "--input", str(tmp_path / "photos" / "anna"), "--tables", str(dst), "--library", "anna")
    assert (back["forgotten"], back["new"]) == (0, anna.num_rows), "added back by its owner"


def consistent(dst: Path | str) -> None:
    """Every result row stands on rows that exist: no group of one, no suggestion, cluster or evidence of a
    face that is gone, no tag of a face that is gone."""
    snapshot = TablesSnapshot(str(dst))
    faces = set(snapshot.read(S.FACES_TABLE, [S.FACE_ID])[S.FACE_ID].to_pylist())
    photos = set(snapshot.read(S.IMAGES_TABLE, [S.URI])[S.URI].to_pylist())
    groups = snapshot.read(S.DUPLICATES_TABLE)
    sizes = pc.value_counts(pc.binary_join_element_wise(groups[S.SCOPE], groups[S.GROUP_ID], "/")).field("counts")
    assert pc.min(sizes).as_py() >= 2 and set(groups[S.URI].to_pylist()) <= photos
    suggestions = snapshot.read(S.SUGGESTIONS_TABLE).to_pylist()
    assert {row[S.FACE_ID] for row in suggestions} <= faces
    assert {face for row in suggestions for face in row[S.EVIDENCE]} <= faces, "no evidence that is gone"
    assert set(snapshot.read(S.CLUSTERS_TABLE)[S.FACE_ID].to_pylist()) <= faces
    assert set(snapshot.read(S.TAGS_TABLE)[S.FACE_ID].to_pylist()) <= faces


def test_forget_photos_of_a_duplicate_group_and_a_tagged_face(tmp_path: Path, lfw_images: Path, capsys):
    dst = Path(build_store(tmp_path, lfw_images, capsys))
    groups = read_table(str(dst), S.DUPLICATES_TABLE)
    bens_group = groups.filter(pc.equal(groups[S.LIBRARY], "ben"))
    assert bens_group.num_rows == 2
    tags = read_table(str(dst), S.TAGS_TABLE)
    faces = read_table(str(dst), S.FACES_TABLE, library="ben")
    tagged = faces.filter(pc.is_in(faces[S.FACE_ID], value_set=tags[S.FACE_ID]))
    evidence = {f for row in read_table(str(dst), S.SUGGESTIONS_TABLE).to_pylist() for f in row[S.EVIDENCE]}
    assert set(tagged[S.FACE_ID].to_pylist()) & evidence, "a tagged face of ben's is evidence of a suggestion"
    gone = [bens_group[S.URI][0].as_py(), tagged[S.URI][0].as_py()]
    others = read_table(str(dst), S.CLUSTERS_TABLE)
    others = others.filter(pc.not_equal(others[S.LIBRARY], "ben")).sort_by(
        [(S.SCOPE, "ascending"), (S.FACE_ID, "ascending")]
    )

    done = run(capsys, "forget", "--tables", str(dst), "--uri", *gone)
    assert (done["photos"], done["tag_rows"]) == (2, 1)
    assert audited(capsys, str(dst), "--uri", *gone) == []
    groups = read_table(str(dst), S.DUPLICATES_TABLE)
    assert not groups.filter(pc.equal(groups[S.LIBRARY], "ben")).num_rows, "a group of one is no group"
    consistent(dst)
    after = read_table(str(dst), S.CLUSTERS_TABLE)
    after = after.filter(pc.not_equal(after[S.LIBRARY], "ben")).sort_by(
        [(S.SCOPE, "ascending"), (S.FACE_ID, "ascending")]
    )
    assert after.equals(others), "the other libraries' people are untouched"


def test_forget_a_person_and_the_next_night_does_not_bring_them_back(tmp_path: Path, lfw_images: Path, capsys):
    dst = Path(build_store(tmp_path, lfw_images, capsys))
    faces = read_table(str(dst), S.FACES_TABLE, library="carl")
    tags = read_table(str(dst), S.TAGS_TABLE)
    suggestions = read_table(str(dst), S.SUGGESTIONS_TABLE)
    named = set(tags.filter(pc.equal(tags[S.NAME], "George"))[S.FACE_ID].to_pylist())
    named |= set(suggestions.filter(pc.equal(suggestions[S.NAME], "George"))[S.FACE_ID].to_pylist())
    person = faces.filter(pc.is_in(faces[S.FACE_ID], value_set=pa.array(sorted(named))))
    assert person.num_rows >= 3, "carl's George: tagged twice, suggested at least once"

    done = run(capsys, "forget", "--tables", str(dst), "--library", "carl", "--name", "George")
    assert done["faces"] == person.num_rows and done["photos"] == 0
    counted = read_table(str(dst), S.FACES_TABLE, library="carl").group_by(S.URI).aggregate([(S.FACE_ID, "count")])
    counted = dict(zip(counted[S.URI].to_pylist(), counted[f"{S.FACE_ID}_count"].to_pylist()))
    for photo in read_table(str(dst), S.IMAGES_TABLE, library="carl").to_pylist():
        assert photo[S.NUM_FACES] == counted.get(photo[S.URI], 0), "each photo counts the faces it has left"
    recorded = next(r for r in read_table(str(dst), S.RUNS_TABLE).to_pylist() if r[S.RUN_ID] == done["run_id"])
    assert "George" not in json.dumps(recorded, default=str), "the request is recorded, not the name"

    for uri in set(person[S.URI].to_pylist()):  # the photos change: the night embeds them again
        os.utime(uri, (1_700_000_000, 1_700_000_000))
    folder = tmp_path / "photos" / "carl"
    night = run(capsys, "nightly", "--input", str(folder), "--tables", str(dst), "--library", "carl")
    embedded = next(step for step in night["steps"] if step["step"] == "embed")
    assert embedded["changed"] == len(set(person[S.URI].to_pylist()))
    assert embedded["forgotten_faces"] == person.num_rows, "found again where they were: not written"
    now = read_table(str(dst), S.FACES_TABLE, library="carl")
    for face in person.to_pylist():
        same_photo = now.filter(pc.equal(now[S.URI], face[S.URI]))[S.BBOX].to_pylist()
        assert all(abs(box[0] - face[S.BBOX][0]) > 5 for box in same_photo), "no face in the forgotten face's place"
    photos = {row[S.URI]: row[S.NUM_FACES] for row in read_table(str(dst), S.IMAGES_TABLE, library="carl").to_pylist()}
    assert all(photos[uri] == now.filter(pc.equal(now[S.URI], uri)).num_rows for uri in photos), "faces counted"
    forgotten = set(person[S.FACE_ID].to_pylist())
    for table in (S.FACES_TABLE, S.CLUSTERS_TABLE, S.SUGGESTIONS_TABLE, S.TAGS_TABLE):
        assert not forgotten & set(read_table(str(dst), table)[S.FACE_ID].to_pylist()), f"none in {table} again"
    tags = read_table(str(dst), S.TAGS_TABLE)
    carls = pa.array(sorted(now[S.FACE_ID].to_pylist()))
    assert "George" not in tags.filter(pc.is_in(tags[S.FACE_ID], value_set=carls))[S.NAME].to_pylist()
    consistent(dst)


@pytest.mark.slow
def test_forget_on_s3_killed_midway_and_run_again(tmp_path: Path, lfw_images: Path, capsys, s3_endpoint: str):
    """On moto S3: a forget killed (SIGKILL) once its tombstones are committed leaves the store held until the
    lease expires; run again, it completes the erasure."""
    fs = s3fs.S3FileSystem()
    fs.mkdir("forget-store")
    fs.mkdir("forget-photos")
    dst = build_store(tmp_path, lfw_images, capsys, "s3://forget-store/dst", "s3://forget-photos")

    anna_data = sought(dst, tmp_path, "anna")
    held = {found["kind"] for found in audited(capsys, dst, *anna_data)}
    assert {"delta data file", "delta log", "faiss index", "html", "jpeg"} <= held
    bens = of_library(dst, "ben")

    command = [sys.executable, "-m", "jobs.cli", "forget", "--tables", dst, "--library", "anna"]
    short_lease = ["--set", "output.lease_ttl_s=4"]
    forgetting = subprocess.Popen([*command, *short_lease], env=dict(os.environ), stderr=subprocess.PIPE)
    tombstones = "forget-store/dst/forgotten/_delta_log/00000000000000000001.json"
    deadline = time.monotonic() + 120
    while not fs.exists(tombstones) and forgetting.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        fs.invalidate_cache()
    forgetting.send_signal(signal.SIGKILL)
    assert forgetting.wait(timeout=30) == -signal.SIGKILL, "killed midway, not finished"
    assert audited(capsys, dst, *anna_data), "killed before the erasure was complete"

    time.sleep(5)  # the killed run's lease expires
    again = subprocess.run([*command, *short_lease], env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert audited(capsys, dst, *anna_data) == []
    assert of_library(dst, "ben") == bens
    consistent(dst)


def test_a_library_opts_out_of_faces_and_back_in(tmp_path: Path, lfw_images: Path, capsys):
    dst = Path(build_store(tmp_path, lfw_images, capsys))
    faces = read_table(str(dst), S.FACES_TABLE, library="ben")
    photos = read_table(str(dst), S.IMAGES_TABLE, library="ben")
    carls = of_library(dst, "carl")

    vectors = tmp_path / "ben.npy"
    np.save(vectors, np.array(faces[S.EMBEDDING].to_pylist(), np.float32))
    assert audited(capsys, str(dst), "--embeddings", str(vectors))
    done = run(capsys, "library", "set", "--tables", str(dst), "--library", "ben", "--faces", "off")
    assert done["changed"] and done["faces_erased"] == faces.num_rows
    assert audited(capsys, str(dst), "--embeddings", str(vectors)) == [], "no face of ben's is left anywhere"
    assert of_library(dst, "carl") == carls
    kept = read_table(str(dst), S.IMAGES_TABLE, library="ben")
    assert kept.num_rows == photos.num_rows and set(kept[S.STATUS].to_pylist()) == {S.STATUS_FACES_OFF}

    folder = tmp_path / "photos" / "ben"
    shutil.copy(folder / "George_W_Bush_0005.jpg", folder / "another copy.jpg")
    again = run(capsys, "nightly", "--input", str(folder), "--tables", str(dst), "--library", "ben")
    embedded = next(step for step in again["steps"] if step["step"] == "embed")
    assert (embedded["new"], embedded["faces"], embedded["faces_off"]) == (1, 0, 1)
    assert not read_table(str(dst), S.FACES_TABLE, library="ben").num_rows
    groups = read_table(str(dst), S.DUPLICATES_TABLE)
    bens = groups.filter(pc.equal(groups[S.LIBRARY], "ben"))
    assert "another copy.jpg" in {uri.rsplit("/", 1)[-1] for uri in bens[S.URI].to_pylist()}, "dedup still works"
    consistent(dst)

    back = run(capsys, "library", "set", "--tables", str(dst), "--library", "ben", "--faces", "on")
    assert back["changed"] and back["faces_erased"] == 0
    again = run(capsys, "embed", "--input", str(folder), "--tables", str(dst), "--library", "ben")
    assert again["retried"] == photos.num_rows + 1 and again["faces"] == faces.num_rows + 1
    assert set(read_table(str(dst), S.IMAGES_TABLE, library="ben")[S.STATUS].to_pylist()) == {S.STATUS_OK}


@pytest.mark.slow
@pytest.mark.parametrize("where", ["folder", "s3"])
def test_a_stalled_embed_cannot_write_back_a_library_forgotten_meanwhile(
    where: str, tmp_path: Path, lfw_images: Path, capsys, request
):
    """An embed of anna's new photos frozen (SIGSTOP) before its first commit, past its lease; a forget of anna
    that takes the lease over and completes; the embed resumed (SIGCONT): it exits 4 and writes nothing back."""
    if where == "s3":
        request.getfixturevalue("s3_endpoint")
        fs = s3fs.S3FileSystem()
        for bucket in ("fence-store", "fence-photos"):
            fs.mkdir(bucket)
        dst = build_store(tmp_path, lfw_images, capsys, "s3://fence-store/dst", "s3://fence-photos")
        src = "s3://fence-photos/anna"
        fs.put(str(lfw_images / "Zico"), "fence-photos/anna/Zico", recursive=True)
    else:
        dst = build_store(tmp_path, lfw_images, capsys)
        src = str(tmp_path / "photos" / "anna")
        shutil.copytree(lfw_images / "Zico", tmp_path / "photos" / "anna" / "Zico")
    anna_data = sought(dst, tmp_path, "anna")
    new = [f"{src}/Zico/{path.name}" for path in sorted((lfw_images / "Zico").glob("*.jpg"))]
    uris = Path(anna_data[3])
    uris.write_text(uris.read_text() + "\n" + "\n".join(new))

    embed = ["embed", "--input", src, "--tables", dst, "--library", "anna", "--set", "output.lease_ttl_s=2"]

    def forget_anna() -> tuple[dict, dict]:
        return run(capsys, "forget", "--tables", dst, "--library", "anna"), tables_now(dst)

    code, err, (done, after_forget) = frozen_past_its_lease(dst, "before-its-checks", embed, forget_anna)
    assert code == 4, err[-3000:]
    assert f"run {done['run_id']}" in err.strip().splitlines()[-1], "the refusal names the forget that took over"
    assert tables_now(dst) == after_forget, "not one commit more"
    assert audited(capsys, dst, *anna_data) == []
