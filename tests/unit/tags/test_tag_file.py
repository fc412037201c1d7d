"""Tag files: reading CSV and Parquet, the checks that refuse a file, and finding the face each row names."""

from __future__ import annotations

import io
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import schema as S
from pipeline.tags.tag_file import (
    AMBIGUOUS,
    CONFLICT,
    NO_FACE,
    NO_OVERLAP,
    SEVERAL_FACES,
    UNKNOWN_PHOTO,
    ResolvedTag,
    TagFileError,
    TagRow,
    box_iou,
    parse_tag_file,
    resolve_rows,
)

# photo -> boxes of its faces; face ids "<photo>-<k>"
PHOTOS = {"/lib/solo.jpg": [[10, 10, 50, 50]], "/lib/pair.jpg": [[0, 0, 40, 40], [60, 0, 100, 40]]}
STATUS = {"/lib/solo.jpg": "ok", "/lib/pair.jpg": "ok", "/lib/empty.jpg": "no_face"}


def faces_table() -> pa.Table:
    rows = [(f"{uri}-{k}", uri, box) for uri, boxes in PHOTOS.items() for k, box in enumerate(boxes)]
    return pa.table(
        {
            S.FACE_ID: [face_id for face_id, _, _ in rows],
            S.URI: [uri for _, uri, _ in rows],
            S.BBOX: pa.array([box for _, _, box in rows], pa.list_(pa.float32(), 4)),
        }
    )


def row(line: int, name: str = "Anna", face_id=None, uri=None, box=None, verdict=S.VERDICT_TAG) -> TagRow:
    return TagRow(line, name, verdict, face_id, uri, box)


def test_csv_rows_with_their_lines_boxes_and_default_verdict() -> None:
    text = (
        "\ufeffFace_ID , URI,name,x1,y1,x2,y2,Verdict,notes\n"
        "f1,,Anna,,,,,,first\n"
        "\n"
        ',/lib/pair.jpg, "Bob ",1,2,30.5,40,REJECTED,\n'
        '"f2",,"Carl, Jr.",,,,,accepted,"two\nlines"\n'
    )
    rows = parse_tag_file(text.encode(), "t.csv")
    assert rows == [
        TagRow(2, "Anna", "tag", "f1", None, None),
        TagRow(4, "Bob", "rejected", None, "/lib/pair.jpg", (1.0, 2.0, 30.5, 40.0)),
        TagRow(6, "Carl, Jr.", "accepted", "f2", None, None),  # the line where the row ends
    ]


def test_parquet_rows_with_a_bbox_column() -> None:
    table = pa.table(
        {
            "uri": ["/lib/pair.jpg", "/lib/solo.jpg", None],
            "name": ["Anna", "Bob", "Carl"],
            "bbox": pa.array([[0.0, 0.0, 30.0, 30.0], None, None], pa.list_(pa.float64())),
            "face_id": [None, None, "f9"],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    rows = parse_tag_file(sink.getvalue(), "t.parquet")
    assert rows == [
        TagRow(1, "Anna", "tag", None, "/lib/pair.jpg", (0.0, 0.0, 30.0, 30.0)),
        TagRow(2, "Bob", "tag", None, "/lib/solo.jpg", None),
        TagRow(3, "Carl", "tag", "f9", None, None),
    ]


@pytest.mark.parametrize(
    ("header", "missing"),
    [("face_id,person", "name"), ("name,image", "face_id or uri"), ("uri,name,x1,y1", "x2, y2")],
)
def test_missing_columns_refuse_the_file(header: str, missing: str) -> None:
    with pytest.raises(TagFileError, match=f"missing column\\(s\\) {missing}") as caught:
        parse_tag_file(f"{header}\na,b{',1,2' if 'x1' in header else ''}\n".encode(), "t.csv")
    assert caught.value.problems[0][0] == 0  # the file, not a line


def test_every_bad_row_is_named_by_its_line() -> None:
    text = (
        "face_id,uri,name,verdict,x1,y1,x2,y2\n"
        "f1,,Anna,,,,,\n"  # 2: fine
        "f2,,  ,,,,,\n"  # 3: empty name
        "f3,,Bob,maybe,,,,\n"  # 4: bad verdict
        ",,Carl,,,,,\n"  # 5: no face_id, no uri
        ",/lib/a.jpg,Dora,,1,2,,\n"  # 6: half a box
        ",/lib/a.jpg,Eve,,5,5,1,9\n"  # 7: x2 < x1
        ",/lib/a.jpg,Fay,,a,b,c,d\n"  # 8: not numbers
    )
    with pytest.raises(TagFileError) as caught:
        parse_tag_file(text.encode(), "t.csv")
    assert [line for line, _ in caught.value.problems] == [3, 4, 5, 6, 7, 8]
    problems = dict(caught.value.problems)
    assert problems[3] == "empty name" and "maybe" in problems[4] and "no face_id and no uri" in problems[5]
    assert all(f"line {line}:" in str(caught.value) for line in (3, 4, 5, 6, 7, 8))
    assert "line 2:" not in str(caught.value)


def test_box_iou_against_areas_counted_by_hand() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # the same box; half overlapping (50 / (100 + 100 - 50)); disjoint; inside (25 / 100)
    assert box_iou((0, 0, 10, 10), boxes) == pytest.approx([1.0, 1 / 3, 0.0, 0.25])


def test_rows_find_their_face_by_id_box_or_photo_of_one_face() -> None:
    rows = [
        row(2, "Anna", face_id="/lib/pair.jpg-1"),
        row(3, "Bob", uri="/lib/pair.jpg", box=(5, 5, 38, 41)),  # over face 0
        row(4, "Anna", uri="/lib/pair.jpg", box=(30, 0, 100, 40)),  # IoU 0.1 with face 0, 0.57 with face 1
        row(5, "Carl", uri="/lib/solo.jpg"),  # the photo's only face
    ]
    resolution = resolve_rows(rows, faces_table(), STATUS)
    assert resolution.refused == []
    assert resolution.tags == [
        ResolvedTag(2, "/lib/pair.jpg-1", "Anna", "tag"),
        ResolvedTag(3, "/lib/pair.jpg-0", "Bob", "tag"),
        ResolvedTag(4, "/lib/pair.jpg-1", "Anna", "tag"),
        ResolvedTag(5, "/lib/solo.jpg-0", "Carl", "tag"),
    ]


def test_a_face_id_decides_over_the_uri() -> None:
    rows = [row(2, "Dora", face_id="/lib/solo.jpg-0", uri="/lib/pair.jpg")]
    assert resolve_rows(rows, faces_table(), STATUS).tags == [ResolvedTag(2, "/lib/solo.jpg-0", "Dora", "tag")]


def test_rows_naming_no_face_or_several_are_refused_never_guessed() -> None:
    rows = [
        row(2, uri="/lib/pair.jpg"),  # two faces, no box
        row(3, uri="/lib/pair.jpg", box=(20, 0, 80, 40)),  # 800 px of each face: IoU 0.25 with both
        row(4, uri="/lib/pair.jpg", box=(42, 0, 58, 40)),  # between the two faces
        row(5, uri="/lib/empty.jpg"),  # a photo without faces
        row(6, uri="/lib/elsewhere.jpg"),  # not a photo of the tables
        row(7, uri="/lib/solo.jpg"),
    ]
    resolution = resolve_rows(rows, faces_table(), STATUS)
    assert [(r.line, r.reason) for r in resolution.refused] == [
        (2, SEVERAL_FACES),
        (3, AMBIGUOUS),
        (4, NO_OVERLAP),
        (5, NO_FACE),
        (6, UNKNOWN_PHOTO),
    ]
    assert resolution.tags == [ResolvedTag(7, "/lib/solo.jpg-0", "Anna", "tag")]


def test_unknown_face_ids_refuse_the_file_naming_their_lines() -> None:
    rows = [row(2, face_id="/lib/solo.jpg-0"), row(3, face_id="nope"), row(4, uri="/lib/x.jpg"), row(5, face_id="x")]
    with pytest.raises(TagFileError, match="line 3: unknown face_id 'nope'; line 5: unknown face_id 'x'") as caught:
        resolve_rows(rows, faces_table(), STATUS)
    assert [line for line, _ in caught.value.problems] == [3, 5]


def test_rows_that_contradict_each_other_are_refused() -> None:
    rows = [
        row(2, "Anna", face_id="/lib/solo.jpg-0"),
        row(3, "Bob", uri="/lib/solo.jpg"),  # the same face, another name
        row(4, "Carl", face_id="/lib/pair.jpg-0"),
        row(5, "Carl", uri="/lib/pair.jpg", box=(0, 0, 40, 40), verdict=S.VERDICT_REJECTED),  # and not Carl
        row(6, "Dora", face_id="/lib/pair.jpg-1"),
        row(7, "Eve", face_id="/lib/pair.jpg-1", verdict=S.VERDICT_REJECTED),  # a rejection beside a name
        row(8, "Dora", uri="/lib/pair.jpg", box=(60, 0, 100, 40)),  # the same again
    ]
    resolution = resolve_rows(rows, faces_table(), STATUS)
    assert [(r.line, r.reason) for r in resolution.refused] == [
        (2, CONFLICT),
        (3, CONFLICT),
        (4, CONFLICT),
        (5, CONFLICT),
    ]
    assert "line 2: 'Anna'" in resolution.refused[0].detail and "line 3: 'Bob'" in resolution.refused[0].detail
    assert [tag.line for tag in resolution.tags] == [6, 7, 8]


def test_relative_paths_are_found_as_the_tables_write_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert os.path.abspath("lib/solo.jpg") == "/lib/solo.jpg"
    resolution = resolve_rows([row(2, uri="lib/solo.jpg")], faces_table(), STATUS)
    assert resolution.tags == [ResolvedTag(2, "/lib/solo.jpg-0", "Anna", "tag")]
