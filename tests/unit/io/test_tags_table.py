"""The tags table at DST: tag files recorded against a faces table, re-tagging, rejections, removal and renaming."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import FaceTables, read_table
from pipeline.io.tags_table import delete_tags, read_tags, rename_person
from pipeline.tags.tag_file import AMBIGUOUS, NO_FACE, NO_OVERLAP, SEVERAL_FACES, TagFileError, add_tag_file
from tests.tables import faces_table, images_table

DIM = 4
# photo -> boxes of its faces; the face ids are "<photo>-<k>"
LIBRARY = {"solo.jpg": [[10, 10, 50, 50]], "pair.jpg": [[0, 0, 40, 40], [60, 0, 100, 40]], "empty.jpg": []}


def write_library(dst: str, storage: StorageConfig, root: str) -> None:
    """A faces table at ``dst`` of the photos of LIBRARY under ``root`` (no embedding job)."""
    photos = list(LIBRARY)
    images = images_table(
        [store.join(root, photo) for photo in photos],
        [f"sha-{photo}" for photo in photos],
        [len(LIBRARY[photo]) for photo in photos],
        side=120,
        size=1000,
    )
    faces = [(photo, k, box) for photo, boxes in LIBRARY.items() for k, box in enumerate(boxes)]
    faces_rows = faces_table(
        [f"{photo}-{k}" for photo, k, _ in faces],
        [f"sha-{photo}" for photo, _, _ in faces],
        [store.join(root, photo) for photo, _, _ in faces],
        [k for _, k, _ in faces],
        [box for _, _, box in faces],
        DIM,
    )
    FaceTables(dst, storage, DIM, "m", "d").commit(images, faces_rows, [])


def tag_rows(dst: str) -> set[tuple[str, str, str]]:
    return {(r[S.FACE_ID], r[S.NAME], r[S.VERDICT]) for r in read_tags(dst).to_pylist()}


def tags_version(dst: str) -> int | None:
    try:
        return DeltaTable(store.join(dst, S.TAGS_TABLE)).version()
    except Exception:  # no table
        return None


def counted(summary: dict) -> int:
    """Every row of a file ends as exactly one of these."""
    return (
        summary["added"]
        + len(summary["replaced"])
        + summary["unchanged"]
        + summary["repeated"]
        + len(summary["refused"])
    )


@pytest.fixture
def library(tmp_path: Path) -> tuple[str, Path]:
    dst, root = str(tmp_path / "dst"), tmp_path / "photos"
    write_library(dst, StorageConfig(), str(root))
    return dst, root


def tag_file(tmp_path: Path, text: str, name: str = "tags.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_faces_tagged_by_id_by_uri_and_box_and_by_uri_alone(library, tmp_path: Path) -> None:
    dst, root = library
    text = (
        "face_id,uri,name,x1,y1,x2,y2\n"
        "pair.jpg-1,,Bob,,,,\n"
        f",{root}/pair.jpg,Anna,2,1,35,44\n"  # face 0
        f",{root}/solo.jpg,Carl,,,,\n"
    )
    summary = add_tag_file(dst, tag_file(tmp_path, text), tagged_by="ann")

    assert summary["rows"] == 3 and summary["added"] == 3 and summary["refused"] == []
    assert tag_rows(dst) == {("pair.jpg-1", "Bob", "tag"), ("pair.jpg-0", "Anna", "tag"), ("solo.jpg-0", "Carl", "tag")}
    tags = read_table(dst, S.TAGS_TABLE)
    assert tags.schema == S.TAGS_SCHEMA and sorted(tags.to_pylist(), key=str) == sorted(
        read_tags(dst).to_pylist(), key=str
    )
    assert set(tags[S.SOURCE].to_pylist()) == {str(tmp_path / "tags.csv")}
    assert set(tags[S.TAGGED_BY].to_pylist()) == {"ann"}
    assert all(
        abs(t - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5) for t in tags[S.TAGGED_AT].to_pylist()
    )


def test_ambiguous_and_unmatched_rows_are_reported_and_the_others_written(library, tmp_path: Path) -> None:
    dst, root = library
    text = (
        "uri,name,x1,y1,x2,y2\n"
        f"{root}/pair.jpg,Anna,,,,\n"  # 2: two faces, no box
        f"{root}/pair.jpg,Anna,20,0,80,40\n"  # 3: both faces equally
        f"{root}/pair.jpg,Anna,42,0,58,40\n"  # 4: between them
        f"{root}/empty.jpg,Anna,,,,\n"  # 5: no face
        f"{root}/solo.jpg,Anna,,,,\n"  # 6: fine
    )
    summary = add_tag_file(dst, tag_file(tmp_path, text))

    assert [(r["line"], r["reason"]) for r in summary["refused"]] == [
        (2, SEVERAL_FACES),
        (3, AMBIGUOUS),
        (4, NO_OVERLAP),
        (5, NO_FACE),
    ]
    assert summary["refused_by_reason"] == {SEVERAL_FACES: 1, AMBIGUOUS: 1, NO_OVERLAP: 1, NO_FACE: 1}
    assert summary["added"] == 1 and counted(summary) == summary["rows"] == 5
    assert tag_rows(dst) == {("solo.jpg-0", "Anna", "tag")}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("face_id,person\npair.jpg-0,Anna\n", []),  # no name column
        ("face_id,name\npair.jpg-0,Anna\nsolo.jpg-0,\npair.jpg-1, \n", [3, 4]),  # empty names
        ("face_id,name\npair.jpg-0,Anna\nnobody-0,Bob\nsolo.jpg-0,Carl\nnobody-1,Dora\n", [3, 5]),  # unknown faces
        ("face_id,name,verdict\npair.jpg-0,Anna,yes\n", [2]),  # not a verdict
        ("face_id,name\nnobody,Anna\nsolo.jpg-0,\n", [2, 3]),  # all the rows' problems at once
    ],
)
def test_a_file_with_hard_errors_fails_naming_its_rows_and_writes_nothing(
    library, tmp_path: Path, text: str, lines: list[int]
) -> None:
    dst, _ = library
    with pytest.raises(TagFileError) as caught:
        add_tag_file(dst, tag_file(tmp_path, text))
    assert [line for line, _ in caught.value.problems] == (lines or [0])
    assert all(f"line {line}:" in str(caught.value) for line in lines)
    assert tags_version(dst) is None and read_tags(dst).num_rows == 0

    add_tag_file(dst, tag_file(tmp_path, "face_id,name\nsolo.jpg-0,Eve\n", "good.csv"))
    version = tags_version(dst)
    with pytest.raises(TagFileError):
        add_tag_file(dst, tag_file(tmp_path, text))
    assert tags_version(dst) == version and tag_rows(dst) == {("solo.jpg-0", "Eve", "tag")}


def test_the_same_file_twice_changes_nothing(library, tmp_path: Path) -> None:
    dst, root = library
    path = tag_file(tmp_path, f"face_id,uri,name\npair.jpg-0,,Anna\npair.jpg-0,,Anna\n,{root}/solo.jpg,Bob\n")
    first = add_tag_file(dst, path)
    assert first["added"] == 2 and first["repeated"] == 1 and counted(first) == 3
    version = tags_version(dst)

    again = add_tag_file(dst, path)

    assert again["unchanged"] == 2 and again["repeated"] == 1 and again["version"] is None
    assert tags_version(dst) == version and read_tags(dst).num_rows == 2


def test_a_new_name_replaces_the_old_and_rejections_stay_beside_it(library, tmp_path: Path) -> None:
    dst, _ = library
    add_tag_file(dst, tag_file(tmp_path, "face_id,name\npair.jpg-0,Anna\npair.jpg-1,Bob\n"))

    summary = add_tag_file(dst, tag_file(tmp_path, "face_id,name,verdict\npair.jpg-0,Bea,\npair.jpg-0,Carl,rejected\n"))

    assert summary["replaced"] == [
        {
            "line": 2,
            "face_id": "pair.jpg-0",
            "name": "Bea",
            "verdict": "tag",
            "replaced": [{"name": "Anna", "verdict": "tag"}],
        }
    ]
    assert summary["added"] == 1
    assert tag_rows(dst) == {
        ("pair.jpg-0", "Bea", "tag"),
        ("pair.jpg-0", "Carl", "rejected"),
        ("pair.jpg-1", "Bob", "tag"),
    }

    # accepting a suggestion is a tag; rejecting the face's own name takes the name away
    add_tag_file(dst, tag_file(tmp_path, "face_id,name,verdict\npair.jpg-0,Dan,accepted\npair.jpg-1,Bob,rejected\n"))
    assert tag_rows(dst) == {
        ("pair.jpg-0", "Dan", "accepted"),
        ("pair.jpg-0", "Carl", "rejected"),
        ("pair.jpg-1", "Bob", "rejected"),
    }
    # and tagging a rejected name takes the rejection back
    summary = add_tag_file(dst, tag_file(tmp_path, "face_id,name\npair.jpg-0,Carl\n"))
    assert summary["replaced"][0]["replaced"] == [
        {"name": "Carl", "verdict": "rejected"},
        {"name": "Dan", "verdict": "accepted"},
    ]
    assert tag_rows(dst) == {("pair.jpg-0", "Carl", "tag"), ("pair.jpg-1", "Bob", "rejected")}


def test_remove_by_face_or_by_name(library, tmp_path: Path) -> None:
    dst, _ = library
    text = "face_id,name,verdict\npair.jpg-0,Anna,\npair.jpg-0,Bob,rejected\npair.jpg-1,Bob,\nsolo.jpg-0,Bob,\n"
    add_tag_file(dst, tag_file(tmp_path, text))

    removed = delete_tags(dst, face_ids=["pair.jpg-0", "solo.jpg-9"])

    assert removed["removed"] == 2 and removed["by_verdict"] == {"tag": 1, "rejected": 1}
    assert removed["not_tagged"] == ["solo.jpg-9"]
    assert tag_rows(dst) == {("pair.jpg-1", "Bob", "tag"), ("solo.jpg-0", "Bob", "tag")}

    assert delete_tags(dst, name="Bob")["removed"] == 2 and tag_rows(dst) == set()
    with pytest.raises(ConfigError, match="no tags named 'Bob'"):
        delete_tags(dst, name="Bob")


def test_rename_everywhere_and_into_an_existing_name(library, tmp_path: Path) -> None:
    dst, _ = library
    add_tag_file(dst, tag_file(tmp_path, "face_id,name,verdict\npair.jpg-0,Ann,\npair.jpg-1,Ann,rejected\n", "a.csv"))
    add_tag_file(dst, tag_file(tmp_path, "face_id,name\nsolo.jpg-0,Anna\npair.jpg-1,Bob\n", "b.csv"))
    add_tag_file(dst, tag_file(tmp_path, "face_id,name,verdict\npair.jpg-0,Anna,rejected\n", "c.csv"))
    # pair.jpg-0 was tagged Ann, then rejected as Anna: Ann and Anna are one person now: the later row stays
    summary = rename_person(dst, "Ann", "Anna")

    assert summary["renamed"] == 2 and summary["merged"] and summary["collapsed"] == 1
    assert tag_rows(dst) == {
        ("pair.jpg-0", "Anna", "rejected"),
        ("pair.jpg-1", "Anna", "rejected"),
        ("pair.jpg-1", "Bob", "tag"),
        ("solo.jpg-0", "Anna", "tag"),
    }
    rows = {(r[S.FACE_ID], r[S.NAME]): r for r in read_tags(dst).to_pylist()}
    assert rows[("pair.jpg-1", "Anna")][S.SOURCE].endswith("a.csv")  # a renamed row keeps where it came from

    rename_person(dst, "Anna", "Anna Smith")
    assert {name for _, name, _ in tag_rows(dst)} == {"Anna Smith", "Bob"}
    with pytest.raises(ConfigError, match="no tags named 'Ann'"):
        rename_person(dst, "Ann", "Anna")


def test_tables_without_faces_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="facepipe embed"):
        add_tag_file(str(tmp_path / "none"), tag_file(tmp_path, "face_id,name\nf,Anna\n"))
    with pytest.raises(ConfigError, match="no tag file"):
        add_tag_file(str(tmp_path / "none"), str(tmp_path / "missing.csv"))
