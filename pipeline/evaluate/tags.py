"""`facepipe eval tags`: the suggestions table scored against who is in each labelled photo (a CSV of uri,person)."""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import schema as S
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.ingest.main_face import central_faces_index
from pipeline.io.store import is_s3
from pipeline.io.tables import TablesSnapshot
from pipeline.io.tags_table import tags_in_force
from pipeline.metrics.tags import tag_metrics

log = logging.getLogger(__name__)


def read_truth_persons(path: str) -> dict[str, str]:
    """uri -> person from the CSV at ``path`` (columns uri,person); relative uris resolved against the
    CSV's folder, as absolute paths like the tables' uris. ConfigError when a column is missing."""
    folder = os.path.dirname(os.path.abspath(path))
    where = lambda uri: uri if is_s3(uri) or os.path.isabs(uri) else os.path.abspath(os.path.join(folder, uri))
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"uri", "person"} <= set(reader.fieldnames):
            raise ConfigError(f"{path} must be a CSV with columns uri,person")
        return {where(row["uri"]): row["person"] for row in reader}


def central_face_persons(images: pa.Table, faces: pa.Table, persons: Mapping[str, str]) -> dict[str, str]:
    """face id -> person for the central face (pipeline.ingest.main_face) of each photo of ``images``
    that ``persons`` (uri -> person) labels; ``faces`` needs FACE_ID, URI and BBOX."""
    labelled = images.filter(pc.is_in(images[S.URI], value_set=pa.array(list(persons), pa.string())))
    face_ids = faces[S.FACE_ID].to_pylist()
    return {face_ids[row]: persons[uri] for uri, row in central_faces_index(labelled, faces).items()}


def score_tags(truth: Mapping[str, str], tags: Mapping[str, str], predicted: Mapping[str, str | None]) -> dict:
    """pipeline.metrics.tags' scores of ``predicted`` (face id -> name) given ``truth`` (face id -> person,
    the faces scored) and ``tags`` (face id -> the name it is tagged with). The known people are the
    names of the tags and the people of the tagged faces; a person's tags are the tagged faces that
    truly show them (a face tagged with a wrong name counts for its own person)."""
    tags_per_person = Counter(truth[face] for face in tags if truth.get(face) is not None)
    known = set(tags.values()) | set(tags_per_person)
    return tag_metrics(truth, known, tags_per_person, set(tags), predicted)


def evaluate_tags(tables: str, truth: str, config: Config) -> dict:
    """The scores of ``score_tags`` for the suggestions table at ``tables`` (the names suggested), its tags
    table (the faces tagged) and the truth CSV at ``truth`` (uri,person), each labelled photo scored on
    its central face; with ``labelled_photos``, ``labelled_photos_missing_from_tables``,
    ``labelled_photos_without_face``, ``tags`` (faces tagged), ``suggestions`` and ``methods`` (the
    suggestions per method)."""
    persons = read_truth_persons(truth)
    snapshot = TablesSnapshot(tables, config.resolved_storage())
    images = snapshot.read(S.IMAGES_TABLE, [S.URI, S.WIDTH, S.HEIGHT])
    faces = snapshot.faces().read([S.FACE_ID, S.URI, S.BBOX])
    tags = tags_in_force(snapshot.read(S.TAGS_TABLE))
    suggestions = snapshot.read(S.SUGGESTIONS_TABLE, [S.FACE_ID, S.NAME, S.METHOD])
    truth_by_face = central_face_persons(images, faces, persons)
    predicted = dict(zip(suggestions[S.FACE_ID].to_pylist(), suggestions[S.NAME].to_pylist()))
    metrics = score_tags(truth_by_face, tags, predicted)
    in_tables = set(images[S.URI].to_pylist()) & set(persons)
    metrics.update(
        labelled_photos=len(persons),
        labelled_photos_missing_from_tables=len(persons) - len(in_tables),
        labelled_photos_without_face=len(in_tables) - len(truth_by_face),
        tags=len(tags),
        suggestions=suggestions.num_rows,
        methods=dict(Counter(suggestions[S.METHOD].to_pylist())),
    )
    log.info(
        "tags at %s: precision %s, coverage %s, false alarm %s over %d labelled photos",
        tables,
        metrics["precision"],
        metrics["coverage"],
        metrics["false_alarm"],
        len(persons),
    )
    return metrics
