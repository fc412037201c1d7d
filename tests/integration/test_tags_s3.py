"""`facepipe tags add | remove | rename` with the tables and the tag file on a real S3 endpoint (moto)."""

from __future__ import annotations

import json

import pytest
import s3fs
from deltalake import DeltaTable

from jobs.cli import main
from pipeline import schema as S
from pipeline.config import Config
from pipeline.io import store
from pipeline.io.tables import read_table
from tests.unit.io.test_tags_table import write_library
from tests.unit.tags.test_suggest_job import people_library, suggested

pytestmark = pytest.mark.timeout(300)

DST, ROOT = "s3://tags-tables/run", "s3://tags-photos/library"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict, str]:
    code = main(["tags", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), err


def tags() -> set[tuple[str, str, str]]:
    return {(r[S.FACE_ID], r[S.NAME], r[S.VERDICT]) for r in read_table(DST, S.TAGS_TABLE).to_pylist()}


def test_tags_add_remove_rename_on_s3(s3_endpoint: str, capsys: pytest.CaptureFixture) -> None:
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("tags-tables")
    write_library(DST, Config().resolved_storage(), ROOT)
    fs.pipe(
        "tags-tables/files/tags.csv",
        (
            "face_id,uri,name,x1,y1,x2,y2,verdict\n"
            "pair.jpg-1,,Bob,,,,,\n"
            f",{ROOT}/pair.jpg,Anna,0,0,38,40,\n"
            f",{ROOT}/solo.jpg,Carl,,,,,\n"
            f",{ROOT}/solo.jpg,Dora,,,,,rejected\n"
            f",{ROOT}/pair.jpg,Eve,,,,,\n"  # two faces, no box: reported
        ).encode(),
    )

    code, summary, _ = run(
        capsys, "add", "--tables", DST, "--tags", "s3://tags-tables/files/tags.csv", "--tagged-by", "qa"
    )

    assert code == 1  # a row was refused (reported), the others written
    assert summary["added"] == 4 and [(r["line"], r["reason"]) for r in summary["refused"]] == [(6, "several_faces")]
    assert tags() == {
        ("pair.jpg-1", "Bob", "tag"),
        ("pair.jpg-0", "Anna", "tag"),
        ("solo.jpg-0", "Carl", "tag"),
        ("solo.jpg-0", "Dora", "rejected"),
    }
    assert set(read_table(DST, S.TAGS_TABLE)[S.TAGGED_BY].to_pylist()) == {"qa"}
    options = store.delta_storage_options(DST, Config().resolved_storage())
    version = DeltaTable(store.join(DST, S.TAGS_TABLE), storage_options=options).version()

    fs.pipe("tags-tables/files/bad.csv", b"face_id,name\npair.jpg-0,Zed\nno-such-face,Yan\npair.jpg-1,\n")
    code, refused, err = run(capsys, "add", "--tables", DST, "--tags", "s3://tags-tables/files/bad.csv")

    assert code == 2 and not refused["written"]
    assert [(p["line"], p["problem"]) for p in refused["problems"]] == [
        (3, "unknown face_id 'no-such-face'"),
        (4, "empty name"),
    ]
    assert "line 3: unknown face_id 'no-such-face'; line 4: empty name" in err
    assert DeltaTable(store.join(DST, S.TAGS_TABLE), storage_options=options).version() == version

    code, renamed, _ = run(capsys, "rename", "--tables", DST, "--from", "Anna", "--to", "Bob")
    assert code == 0 and renamed["renamed"] == 1 and renamed["merged"]
    assert ("pair.jpg-0", "Bob", "tag") in tags()

    code, removed, _ = run(capsys, "remove", "--tables", DST, "--face-id", "solo.jpg-0")
    assert code == 0 and removed["removed"] == 2 and removed["by_verdict"] == {"tag": 1, "rejected": 1}
    code, removed, _ = run(capsys, "remove", "--tables", DST, "--name", "Bob")
    assert code == 0 and removed["removed"] == 2 and tags() == set()

    assert main(["tags", "remove", "--tables", DST, "--name", "Bob"]) == 2  # no such name any more


def test_suggest_and_score_suggestions_on_s3(s3_endpoint: str, capsys: pytest.CaptureFixture, tmp_path) -> None:
    """Tags, suggestions and their evaluation with the tables on S3; a rejection holds across runs."""
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("tags-people")
    dst, storage = "s3://tags-people/run", Config().resolved_storage()
    faces = people_library(dst, storage)
    fs.pipe("tags-people/tags.csv", b"face_id,name\nanna-0,anna\nanna-1,anna\nbob-15,bob\n")

    assert run(capsys, "add", "--tables", dst, "--tags", "s3://tags-people/tags.csv")[0] == 0
    code, summary, _ = run(capsys, "suggest", "--tables", dst)

    assert code == 0 and summary["suggestions"] == 22 and summary["untagged_faces_without_suggestion"] == 12
    assert {name for name, _ in suggested(dst, storage).values()} == {"anna", "bob"}
    truth = tmp_path / "truth.csv"
    truth.write_text("uri,person\n" + "".join(f"{dst}/photos/{f}.jpg,{f.split('-')[0]}\n" for f in faces))
    assert main(["eval", "tags", "--tables", dst, "--truth", str(truth)]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (scores["precision"], scores["coverage"], scores["false_alarm"]) == (1.0, 1.0, 0.0)

    fs.pipe("tags-people/no.csv", b"face_id,name,verdict\nanna-7,anna,rejected\n")
    assert run(capsys, "add", "--tables", dst, "--tags", "s3://tags-people/no.csv")[0] == 0
    for _ in range(2):
        code, summary, _ = run(capsys, "suggest", "--tables", dst)
        assert code == 0 and summary["rejections"] == 1 and "anna-7" not in suggested(dst, storage)
        assert summary["new_suggestions"] == 0 and {f for f in suggested(dst, storage) if f.startswith("bob")}
