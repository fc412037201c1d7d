"""`facepipe audit` on a store the pipeline wrote from LFW photos of two libraries (embed, index, cluster, tags
add, tags suggest, dedup, report, dedup review, a checkpoint): the positive controls (library anna's data in
each kind of file written, ben's files left alone), data that was never there, the same store on S3 (moto), and
a deleted row found in its old Delta file until that file is vacuumed."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import s3fs
from deltalake import DeltaTable

from jobs.cli import main
from pipeline import schema as S
from pipeline.config import Config
from pipeline.erasure.audit import audit
from pipeline.ingest.photo_faces import analyze
from pipeline.io.tables import read_table

pytestmark = pytest.mark.timeout(300)

ANNA = {"Colin_Powell": 3, "Tony_Blair": 3, "Serena_Williams": 2}
BEN = {"Jacques_Chirac": 3, "Vladimir_Putin": 3}
TAGGED = {"Colin_Powell_1.jpg": "Colin Powell", "Serena_Williams_1.jpg": "Serena Williams"}


def facepipe(*args: str) -> int:
    return main([*args, "--set", "output.commit_every=4"])


def copy_people(lfw_images: Path, people: dict[str, int], folder: Path) -> list[Path]:
    copied = []
    for person, count in people.items():
        for number in range(1, count + 1):
            target = folder / f"{person}_{number}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lfw_images / person / f"{person}_{number:04d}.jpg", target)
            copied.append(target)
    return copied


@pytest.fixture(scope="module")
def store(lfw_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tables of anna's and ben's photos (anna's with a copy of one of them) after every job that writes
    data of theirs, anna's and ben's pages written beside the tables, and a checkpoint of the faces table."""
    root = tmp_path_factory.mktemp("audit")
    anna = copy_people(lfw_images, ANNA, root / "anna")
    shutil.copy(anna[0], root / "anna" / "copy.jpg")
    copy_people(lfw_images, BEN, root / "ben")
    dst = str(root / "dst")
    tags = root / "tags.csv"
    tags.write_text("uri,name\n" + "".join(f"{root / 'anna' / photo},{name}\n" for photo, name in TAGGED.items()))
    assert facepipe("embed", "--input", str(root / "anna"), "--tables", dst, "--library", "anna") == 0
    assert facepipe("index", "--tables", dst) == 0  # while the store holds one library: the index refuses two
    assert facepipe("embed", "--input", str(root / "ben"), "--tables", dst, "--library", "ben") == 0
    assert facepipe("cluster", "--tables", dst) == 0
    assert facepipe("tags", "add", "--tables", dst, "--tags", str(tags), "--library", "anna") == 0
    assert facepipe("tags", "suggest", "--tables", dst) == 0
    assert facepipe("dedup", "--tables", dst) == 0
    for library in ("anna", "ben"):
        assert facepipe("report", "--tables", dst, "--library", library, "--output", f"{dst}/report-{library}") == 0
    assert facepipe("dedup", "review", "--tables", dst, "--library", "anna", "--output", f"{dst}/review-anna") == 0
    DeltaTable(f"{dst}/{S.FACES_TABLE}").create_checkpoint()
    return Path(dst)


def run_audit(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["audit", *args])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def matching(summary: dict, pattern: str) -> list[dict]:
    return [found for found in summary["files_found"] if fnmatch.fnmatch(found["path"], pattern)]


def test_audit_of_a_library_finds_its_data_in_each_kind_of_file_the_pipeline_wrote(
    store: Path, capsys: pytest.CaptureFixture
) -> None:
    faces = read_table(str(store), S.FACES_TABLE, library="anna")
    photos = read_table(str(store), S.IMAGES_TABLE, library="anna")
    embeddings = len({np.asarray(v, np.float32).tobytes() for v in faces[S.EMBEDDING].to_pylist()})  # copy.jpg's

    code, summary = run_audit(capsys, "--tables", str(store), "--library", "anna")

    assert code == 1
    assert summary["sought"] == {
        "library": "anna",
        "uris": photos.num_rows,
        "image_ids": len(set(photos[S.IMAGE_ID].to_pylist())),  # copy.jpg shares its image id
        "face_ids": faces.num_rows,
        "embeddings": embeddings,
    }
    assert embeddings < faces.num_rows  # the copy's face has its original's embedding: one vector sought
    [faces_file] = matching(summary, "faces/library_bucket=*/part-*.parquet")  # anna's bucket, not ben's
    assert faces_file["kind"] == "delta data file"
    assert faces_file["library_rows"] == faces_file["face_ids"] == faces.num_rows
    assert faces_file["embeddings"] == embeddings
    [images_file] = matching(summary, "images/library_bucket=*/part-*.parquet")
    assert images_file["library_rows"] == images_file["uris"] == photos.num_rows
    for table in (S.CLUSTERS_TABLE, S.PERSONS_TABLE, S.DUPLICATES_TABLE, S.SUGGESTIONS_TABLE, S.TAGS_TABLE):
        [data_file] = matching(summary, f"{table}/part-*.parquet")
        assert data_file["kind"] == "delta data file" and data_file["face_ids"] + data_file["uris"] > 0, data_file
    [checkpoint] = matching(summary, "faces/_delta_log/*.checkpoint.parquet")
    assert checkpoint["kind"] == "delta checkpoint" and checkpoint["uris"] > 0  # the files' statistics
    logs = matching(summary, "faces/_delta_log/*.json")
    assert logs and all(log["kind"] == "delta log" and log["uris"] > 0 for log in logs)
    [index_file] = matching(summary, "index/index-*.faiss")
    assert index_file["kind"] == "faiss index" and index_file["embeddings"] == embeddings
    [entries] = matching(summary, "index/entries-*.parquet")
    assert entries["kind"] == "parquet" and entries["uris"] == photos.num_rows
    [graph] = matching(summary, "_facepipe/tags_graphs/library/anna/*.parquet")
    assert graph["kind"] == "parquet" and graph["face_ids"] > 0
    for pages in ("report-anna", "review-anna"):
        [page] = matching(summary, f"{pages}/index.html")
        assert page["kind"] == "html" and page["uris"] > 0
        thumbnails = sorted(p.name for p in (store / pages / "thumbs").iterdir())
        found = matching(summary, f"{pages}/thumbs/*.jpg")
        assert thumbnails and sorted(Path(f["path"]).name for f in found) == thumbnails  # each one, by its name
        assert all(f["kind"] == "jpeg" and f["face_ids"] + f["uris"] == 1 for f in found)
    assert not matching(summary, "report-ben/*") and not matching(summary, "_facepipe/tags_graphs/library/ben/*")
    assert len(matching(summary, "faces/library_bucket=*")) == 1


def test_audit_of_data_never_in_the_store_finds_nothing(
    store: Path, lfw_images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    [stranger] = analyze([str(lfw_images / "Zico" / "Zico_0001.jpg")])  # a real face, never embedded here
    strangers = np.stack([face.embedding for face in stranger.faces]).astype(np.float32)
    np.save(tmp_path / "strangers.npy", strangers)
    (tmp_path / "uris.txt").write_text(f"{tmp_path / 'anna' / 'Colin_Powell_1.jpg'}\n")  # anna's name, elsewhere

    code, summary = run_audit(
        capsys,
        "--tables",
        str(store),
        "--library",
        "carl",
        "--uri",
        "/photos/carl/1.jpg",
        "--uris",
        str(tmp_path / "uris.txt"),
        "--embeddings",
        str(tmp_path / "strangers.npy"),
    )

    assert code == 0 and summary["found"] == 0 and summary["files_found"] == []
    assert summary["files_read"] == sum(1 for p in store.rglob("*") if p.is_file()) and not summary["read_raw"]


def test_an_audit_by_embeddings_and_uris_finds_one_photo_of_anna(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    faces = read_table(str(store), S.FACES_TABLE, library="anna").to_pylist()
    uri = next(row[S.URI] for row in faces if row[S.URI].endswith("Serena_Williams_2.jpg"))
    vectors = np.array([row[S.EMBEDDING] for row in faces if row[S.URI] == uri], np.float32)
    np.save(tmp_path / "serena.npy", vectors)

    code, by_vectors = run_audit(capsys, "--tables", str(store), "--embeddings", str(tmp_path / "serena.npy"))
    assert code == 1
    assert {(f["path"].split("/")[0], f["kind"], f["embeddings"]) for f in by_vectors["files_found"]} == {
        (S.FACES_TABLE, "delta data file", len(vectors)),
        ("index", "faiss index", len(vectors)),
    }

    code, by_uri = run_audit(capsys, "--tables", str(store), "--uri", uri)
    assert code == 1 and by_uri["sought"]["embeddings"] == len(vectors)
    assert {f["path"] for f in by_vectors["files_found"]} < {f["path"] for f in by_uri["files_found"]}
    assert matching(by_uri, "report-anna/index.html") and not matching(by_uri, "review-anna/*")  # not in a group


def test_an_audit_of_the_store_on_s3_finds_the_same_files(
    store: Path, s3_endpoint: str, capsys: pytest.CaptureFixture
) -> None:
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("audit-store")
    fs.put(str(store), "audit-store/dst", recursive=True)
    local = audit(str(store), Config(), library="anna")

    code, summary = run_audit(capsys, "--tables", "s3://audit-store/dst", "--library", "anna")

    assert code == 1 and summary["files_read"] == local.files_read
    assert summary["files_found"] == local.files_found and summary["sought"] == local.sought


def test_a_deleted_row_is_found_in_its_old_file_until_the_file_is_vacuumed(store: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    shutil.copytree(store, dst)
    faces = read_table(str(dst), S.FACES_TABLE, library="anna").to_pylist()
    uri = next(row[S.URI] for row in faces if row[S.URI].endswith("Serena_Williams_2.jpg"))
    vectors = np.array([row[S.EMBEDDING] for row in faces if row[S.URI] == uri], np.float32)
    table = DeltaTable(str(dst / S.FACES_TABLE))
    assert table.delete(f"{S.URI} = '{uri}'")["num_deleted_rows"] == len(vectors)

    def held_in_faces() -> list[tuple[str, int, int]]:
        result = audit(str(dst), Config(), uris=[uri], embeddings=vectors)
        assert any(f["kind"] == "faiss index" for f in result.files_found)  # its vectors, still indexed
        assert not result.read_raw  # every file read as what it is (the rewritten one holds string views)
        return [(f["kind"], f["uris"], f["embeddings"]) for f in result.files_found if f["path"].startswith("faces/")]

    before = held_in_faces()
    assert ("delta data file, unreferenced", 1, len(vectors)) in before
    assert not [found for found in before if found[0] == "delta data file"]  # the file read now lacks the row
    rows = audit(str(dst), Config(), library="anna").files_found
    [rewritten] = [f for f in rows if f["path"].startswith("faces/") and f["kind"] == "delta data file"]
    assert rewritten["library_rows"] == len(faces) - len(vectors)  # the rewritten file is read: the others are

    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()  # the log files before the checkpoint, whose statistics named the photo

    assert held_in_faces() == []
