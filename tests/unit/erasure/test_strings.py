"""The strings an audit looks for, found in every spelling facepipe writes them in: JSON (and JSON inside JSON,
as a Delta log's statistics), HTML, links, thumbnail names; in bytes, text and columns of strings."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pyarrow as pa

from pipeline.erasure.strings import FACE_IDS, IMAGE_IDS, URIS, SoughtStrings
from pipeline.ingest.thumbnails import link, photo_thumbnail_name

URI = '/photos/Zoë & "Max"/<beach> 1.jpg'  # characters that JSON, HTML and links each write otherwise
IMAGE_ID = "ab" * 32
FACE_ID = "cd" * 16


def sought() -> SoughtStrings:
    return SoughtStrings({URIS: [URI], IMAGE_IDS: [IMAGE_ID], FACE_IDS: [FACE_ID]})


def test_a_uri_is_found_in_json_in_json_inside_json_in_html_and_in_a_link() -> None:
    stats = json.dumps({"minValues": {"uri": URI}})
    commit = json.dumps({"add": {"stats": stats}})  # a Delta log line: statistics as a JSON string inside JSON
    page = f'<a href="{link(URI)}">{html.escape(URI)}</a>'

    for text in (json.dumps({"uri": URI}), json.dumps({"uri": URI}, ensure_ascii=False), commit, page):
        assert sought().in_text(text) == {(URIS, URI)}, text
    assert URI not in commit and html.escape(URI) != URI and URI not in link(URI)  # each spelling differs


def test_a_uri_is_found_by_its_thumbnail_name_and_ids_in_bytes() -> None:
    name = f"review/thumbs/{photo_thumbnail_name(URI)}.jpg"
    binary = b"\xff\xd8\x00" + FACE_ID.encode() + b"\x00\x01" + IMAGE_ID.encode() + b"\xff\xd9"

    assert sought().in_text(name) == {(URIS, URI)}
    assert sought().in_bytes(binary) == {(FACE_IDS, FACE_ID), (IMAGE_IDS, IMAGE_ID)}


def test_values_not_sought_are_not_found() -> None:
    assert sought().in_text(json.dumps({"uri": "/photos/other.jpg", "id": "ab" * 31})) == set()
    assert not SoughtStrings({}) and SoughtStrings({}).in_bytes(IMAGE_ID.encode()) == set()


def test_strings_of_a_column_are_searched_one_by_one() -> None:
    column = pa.array(["/photos/Zoë", None, f"forget --uri '{URI}'", "abab"])
    split = pa.array(["ab" * 16, "ab" * 16])  # an image id's two halves in two values: not the image id

    assert sought().in_strings(column) == {(URIS, URI)}
    assert sought().in_strings(split) == set()
    assert sought().counts() == {URIS: 1, IMAGE_IDS: 1, FACE_IDS: 1}


def test_a_file_name_spelled_in_utf8_is_found(tmp_path: Path) -> None:
    path = tmp_path / "thumbs" / f"{FACE_ID}.jpg"
    assert sought().in_text(str(path)) == {(FACE_IDS, FACE_ID)}
