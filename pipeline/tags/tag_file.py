"""Tag files (CSV or Parquet): read and check them, find the face each row names, record the tags.

A row has a ``name`` and names its face by ``face_id``, or by ``uri`` with a box (``x1, y1, x2,
y2`` columns, or one ``bbox`` column: the face the box overlaps most, by IoU), or by ``uri`` alone
(a photo of exactly one face). An optional ``verdict`` (``tag``, the default, ``accepted`` or
``rejected``) records feedback on suggestions; other columns are ignored. A file with missing
columns, empty names, bad verdicts or boxes, rows naming no face or face_ids that do not exist is
refused whole (TagFileError, nothing written). Rows whose uri finds no face or more than one, or
that contradict each other, are refused and reported; the other rows are written (rerunning the
file once those are fixed changes nothing already written).

Lines: for a CSV the file's line (the header is line 1); for Parquet the row (the first row is 1).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import schema as S
from pipeline.config import StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import TablesSnapshot
from pipeline.io.tags_table import ADDED, POSITIVE, REPEATED, UNCHANGED, record_tags

log = logging.getLogger(__name__)

FACE_ID, URI, NAME, VERDICT, BBOX = S.FACE_ID, S.URI, S.NAME, S.VERDICT, S.BBOX  # the file's columns
BOX_COLUMNS = ("x1", "y1", "x2", "y2")

# Why a row was refused (reported, not written).
UNKNOWN_PHOTO = "unknown_photo"  # the uri is no photo of the tables
NO_FACE = "no_face"  # the photo has no face in the tables
SEVERAL_FACES = "several_faces"  # a uri without a box, of a photo with more than one face
NO_OVERLAP = "no_overlap"  # the box overlaps none of the photo's faces
AMBIGUOUS = "ambiguous"  # the box overlaps two faces equally
CONFLICT = "conflict"  # rows of the file give one face two names, or give and reject one name
OTHER_LIBRARY = "other_library"  # the face is a photo of another library than the one the tags are made in

MAX_LISTED = 50  # problems a TagFileError message names before "and N more"
_READ_ROWS = 65536  # faces read at a time while looking for the faces a file names


class TagFileError(ConfigError):
    """A tag file that cannot be used: ``problems`` are (line, what is wrong), line 0 for the file as a
    whole (missing columns, unreadable). Nothing was written."""

    def __init__(self, source: str, problems: list[tuple[int, str]]):
        self.source, self.problems = source, problems
        listed = "; ".join(f"line {line}: {what}" if line else what for line, what in problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(f"{source}: refused, nothing written: {listed}{more}")


@dataclass(frozen=True)
class TagRow:
    """One row of a tag file: its line, the name and verdict, and what names the face (a face_id, or a
    uri with or without a box x1, y1, x2, y2)."""

    line: int
    name: str
    verdict: str
    face_id: str | None
    uri: str | None
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class ResolvedTag:
    """A row whose face was found."""

    line: int
    face_id: str
    name: str
    verdict: str


@dataclass(frozen=True)
class Refusal:
    """A row that was not written, and why (reason: one of the refusal constants; detail: for people)."""

    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class Resolution:
    """The rows whose face was found, and those refused."""

    tags: list[ResolvedTag]
    refused: list[Refusal]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _box(record: Mapping[str, object]) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """The row's box from the x1..y2 columns or a bbox column (a list, or a text of four numbers), or
    the problem with it; (None, None) without a box."""
    if BBOX in record and _text(record[BBOX]) not in ("", "[]"):
        value = record[BBOX]
        parts = value if isinstance(value, (list, tuple)) else re.split(r"[\s,;]+", _text(value).strip("[]()").strip())
    else:
        parts = [record.get(column) for column in BOX_COLUMNS]
        if all(_text(part) == "" for part in parts):
            return None, None
    try:
        box = tuple(float(_text(part)) for part in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        return None, "a box needs four numbers x1, y1, x2, y2"
    if box[2] <= box[0] or box[3] <= box[1]:
        return None, f"box {list(box)} has no area (x2 <= x1 or y2 <= y1)"
    return box, None


def _row(line: int, record: Mapping[str, object]) -> tuple[TagRow, list[str]]:
    """The tag row of one record and the problems that refuse the file."""
    name, verdict = _text(record.get(NAME)), _text(record.get(VERDICT)).lower() or S.VERDICT_TAG
    face_id, uri = _text(record.get(FACE_ID)) or None, _text(record.get(URI)) or None
    box, box_problem = _box(record)
    problems = [box_problem] if box_problem else []
    if not name:
        problems.append("empty name")
    if verdict not in S.VERDICTS:
        problems.append(f"verdict {verdict!r} is not one of {', '.join(S.VERDICTS)}")
    if face_id is None and uri is None:
        problems.append("no face_id and no uri")
    return TagRow(line, name, verdict, face_id, uri, box), problems


def _csv_records(data: bytes, source: str) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TagFileError(source, [(0, f"neither Parquet nor UTF-8 CSV ({exc})")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        reader.fieldnames = [_text(column).lower() for column in reader.fieldnames or []]
        return reader.fieldnames, [(reader.line_num, record) for record in reader]
    except csv.Error as exc:
        raise TagFileError(source, [(reader.line_num, f"unreadable CSV ({exc})")]) from None


def _parquet_records(data: bytes, source: str) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise TagFileError(source, [(0, f"unreadable Parquet ({exc})")]) from None
    table = table.rename_columns([_text(column).lower() for column in table.column_names])
    return table.column_names, list(enumerate(table.to_pylist(), start=1))


def _parse(data: bytes, source: str) -> tuple[list[TagRow], list[tuple[int, str]]]:
    """The rows of a tag file's bytes and the problems of its rows; TagFileError at once for an
    unreadable file or missing columns."""
    columns, records = _parquet_records(data, source) if data[:4] == b"PAR1" else _csv_records(data, source)
    missing = [NAME] if NAME not in columns else []
    if FACE_ID not in columns and URI not in columns:
        missing.append(f"{FACE_ID} or {URI}")
    if BBOX not in columns and any(c in columns for c in BOX_COLUMNS):
        missing += [c for c in BOX_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(c for c in columns if c) or "none"
        raise TagFileError(source, [(0, f"missing column(s) {', '.join(missing)} (columns found: {found})")])
    rows, problems = [], []
    for line, record in records:
        row, wrong = _row(line, record)
        rows.append(row)
        problems += [(line, what) for what in wrong]
    return rows, problems


def parse_tag_file(data: bytes, source: str) -> list[TagRow]:
    """The rows of a tag file's bytes (Parquet when they start with its magic bytes, else CSV);
    TagFileError naming every problem (missing columns, or the lines with empty names, bad
    verdicts, bad boxes, no face_id and no uri) when there is any."""
    rows, problems = _parse(data, source)
    if problems:
        raise TagFileError(source, problems)
    return rows


def _read(uri: str, storage: StorageConfig | None) -> bytes:
    try:
        return store.read_bytes(uri, storage)
    except FileNotFoundError:
        raise ConfigError(f"no tag file at {uri}") from None


def read_tag_file(uri: str, storage: StorageConfig | None = None) -> list[TagRow]:
    """The checked rows of the tag file at ``uri`` (a path or s3:// address; see parse_tag_file)."""
    return parse_tag_file(_read(uri, storage), uri)


def box_iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of ``box`` (x1, y1, x2, y2) with each row of ``boxes`` (n, 4): n values in [0, 1]."""
    # by hand: four lines of numpy, where torchvision's box_iou would bring torch in
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = box
    width = np.clip(np.minimum(boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1), 0, None)
    inter = width * height
    union = (x2 - x1) * (y2 - y1) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def normalized_uri(uri: str) -> str:
    """``uri`` as the tables write it: local paths absolute, addresses (s3://...) as they are."""
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def _match(row: TagRow, uri: str, faces: list[tuple[str, list[float]]], status: str | None) -> str | Refusal:
    """The face_id a uri row names among ``faces`` (face_id, bbox) of its photo, or why none."""
    if not faces:
        if status is None:
            return Refusal(row.line, UNKNOWN_PHOTO, f"{uri} is not a photo of these tables")
        return Refusal(row.line, NO_FACE, f"no face was found in {uri} (status {status})")
    if row.box is None:
        if len(faces) == 1:
            return faces[0][0]
        return Refusal(row.line, SEVERAL_FACES, f"{uri} has {len(faces)} faces: give a box x1,y1,x2,y2 or a face_id")
    ious = box_iou(row.box, np.array([bbox for _, bbox in faces]))
    order = np.argsort(-ious, kind="stable")
    best = ious[order[0]]
    if best <= 0:
        return Refusal(row.line, NO_OVERLAP, f"the box overlaps none of the {len(faces)} faces of {uri}")
    if len(faces) > 1 and np.isclose(ious[order[1]], best, rtol=1e-6, atol=1e-9):
        tied = [faces[i][0] for i in order[:2]]
        return Refusal(row.line, AMBIGUOUS, f"the box overlaps faces {tied} of {uri} equally (IoU {best:.3f})")
    return faces[order[0]][0]


def _without_conflicts(tags: list[ResolvedTag]) -> tuple[list[ResolvedTag], list[Refusal]]:
    """``tags`` less every row of a face that rows give two names, or give and reject one name."""
    by_face: dict[str, list[ResolvedTag]] = defaultdict(list)
    for tag in tags:
        by_face[tag.face_id].append(tag)
    clashing = set()
    for face_id, rows in by_face.items():
        named = {tag.name for tag in rows if tag.verdict in POSITIVE}
        if len(named) > 1 or any(tag.name in named for tag in rows if tag.verdict not in POSITIVE):
            clashing.add(face_id)
    refused = []
    for face_id in clashing:
        said = ", ".join(f"line {tag.line}: {tag.name!r} ({tag.verdict})" for tag in by_face[face_id])
        detail = f"rows disagree about face {face_id}: {said}"
        refused += [Refusal(tag.line, CONFLICT, detail) for tag in by_face[face_id]]
    return [tag for tag in tags if tag.face_id not in clashing], refused


def resolve_rows(
    rows: list[TagRow],
    faces: pa.Table,
    photos: Mapping[str, str],
    source: str = "tag file",
    problems: Sequence[tuple[int, str]] = (),
) -> Resolution:
    """The face each row names, from ``faces`` (FACE_ID, URI, BBOX: at least the faces of the rows'
    face_ids and uris) and ``photos`` (uri -> status of the photos the rows name). TagFileError naming
    the lines of face_ids not in ``faces`` together with ``problems`` (found reading the file); rows of
    uris that find no face or several, or that contradict each other, are refused."""
    known = set(faces[S.FACE_ID].to_pylist())
    unknown = [
        (row.line, f"unknown face_id {row.face_id!r}") for row in rows if row.face_id and row.face_id not in known
    ]
    if problems or unknown:
        raise TagFileError(source, sorted([*problems, *unknown], key=lambda problem: problem[0]))
    by_uri: dict[str, list[tuple[str, list[float]]]] = defaultdict(list)
    for face_id, uri, bbox in zip(*(faces[c].to_pylist() for c in (S.FACE_ID, S.URI, S.BBOX))):
        by_uri[uri].append((face_id, bbox))
    tags, refused = [], []
    for row in rows:
        if row.face_id:  # a face_id decides: the row's uri and box are not looked at
            tags.append(ResolvedTag(row.line, row.face_id, row.name, row.verdict))
            continue
        uri = row.uri if row.uri in by_uri or row.uri in photos else normalized_uri(row.uri)
        found = _match(row, uri, by_uri.get(uri, []), photos.get(uri))
        if isinstance(found, Refusal):
            refused.append(found)
        else:
            tags.append(ResolvedTag(row.line, found, row.name, row.verdict))
    tags, conflicts = _without_conflicts(tags)
    return Resolution(tags, sorted(refused + conflicts, key=lambda refusal: refusal.line))


def resolve_tag_file(
    rows: list[TagRow],
    tables: str,
    storage: StorageConfig | None = None,
    source: str = "tag file",
    problems: Sequence[tuple[int, str]] = (),
    library: str | None = None,
) -> Resolution:
    """resolve_rows against the committed faces and photos of the tables at ``tables``: a Resolution.
    ``library``: the tags are made in that library, and rows naming a face of another are refused. ConfigError
    when ``tables`` holds no tables."""
    snapshot = TablesSnapshot(tables, storage)
    try:
        committed = snapshot.faces(by_scope=True)  # the faces the rows name, of whichever library
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    face_ids = pa.array(sorted({row.face_id for row in rows if row.face_id}), pa.string())
    uris = {u for row in rows if row.uri and not row.face_id for u in (row.uri, normalized_uri(row.uri))}
    wanted_uris = pa.array(sorted(uris), pa.string())
    columns = [S.FACE_ID, S.URI, S.LIBRARY, S.BBOX]
    found = [
        batch.filter(
            pc.or_(pc.is_in(batch[S.FACE_ID], value_set=face_ids), pc.is_in(batch[S.URI], value_set=wanted_uris))
        )
        for batch in committed.batches(columns, _READ_ROWS)
    ]
    faces = pa.concat_tables([S.faces_schema(1).empty_table().select(columns), *found])
    photos: dict[str, str] = {}
    if uris:
        images = snapshot.read(S.IMAGES_TABLE, [S.URI, S.STATUS])
        images = images.filter(pc.is_in(images[S.URI], value_set=wanted_uris))
        photos = dict(zip(images[S.URI].to_pylist(), images[S.STATUS].to_pylist()))
    resolution = resolve_rows(rows, faces, photos, source, problems)
    if library is None:
        return resolution
    library_of = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.LIBRARY].to_pylist()))
    elsewhere = [tag for tag in resolution.tags if library_of[tag.face_id] != library]
    refused = [
        Refusal(
            tag.line, OTHER_LIBRARY, f"face {tag.face_id} is in library {library_of[tag.face_id]!r}, not {library!r}"
        )
        for tag in elsewhere
    ]
    kept = [tag for tag in resolution.tags if library_of[tag.face_id] == library]
    return Resolution(kept, sorted(resolution.refused + refused, key=lambda refusal: refusal.line))


def add_tag_file(
    tables: str,
    tags_file: str,
    storage: StorageConfig | None = None,
    tagged_by: str | None = None,
    library: str | None = None,
) -> dict:
    """Read, check and resolve the tag file ``tags_file`` against the tables at ``tables`` and record the
    rows whose face was found in the tags table (one transaction); with ``library``, only rows naming faces
    of that library (the others are refused). TagFileError (nothing written) for
    a file with hard errors. Returns the summary: rows, added, replaced ([{line, face_id, name,
    verdict, replaced: [{name, verdict}]}]), unchanged, repeated, refused ([{line, reason, detail}]),
    refused_by_reason, version (of the tags table; null when nothing changed). rows = added +
    len(replaced) + unchanged + repeated + len(refused)."""
    source = normalized_uri(tags_file)
    rows, problems = _parse(_read(tags_file, storage), source)  # reported with unknown face_ids, at once
    resolution = resolve_tag_file(rows, tables, storage, source, problems, library)
    table = pa.Table.from_pylist(
        [{S.FACE_ID: t.face_id, S.NAME: t.name, S.VERDICT: t.verdict} for t in resolution.tags],
        pa.schema([S.TAGS_SCHEMA.field(c) for c in (S.FACE_ID, S.NAME, S.VERDICT)]),
    )
    changes = record_tags(tables, table, storage, source=source, tagged_by=tagged_by)
    outcomes = Counter(changes.outcomes)
    summary = {
        "tables": tables,
        "source": source,
        "rows": len(rows),
        "added": outcomes[ADDED],
        "replaced": [
            {"line": tag.line, "face_id": tag.face_id, "name": tag.name, "verdict": tag.verdict, "replaced": old}
            for tag, old in zip(resolution.tags, changes.replaced)
            if old
        ],
        "unchanged": outcomes[UNCHANGED],
        "repeated": outcomes[REPEATED],
        "refused": [asdict(refusal) for refusal in resolution.refused],
        "refused_by_reason": dict(Counter(refusal.reason for refusal in resolution.refused)),
        "version": changes.version,
    }
    log.info(
        "%s: %d rows, %d added, %d replaced, %d unchanged, %d refused",
        source,
        len(rows),
        summary["added"],
        len(summary["replaced"]),
        summary["unchanged"],
        len(resolution.refused),
    )
    return summary
