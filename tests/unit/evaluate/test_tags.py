"""The suggestions table at DST scored against a truth CSV on each labelled photo's central face."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from pipeline import schema as S
from pipeline.config import StorageConfig, load_config
from pipeline.errors import ConfigError
from pipeline.evaluate.tags import evaluate_tags, read_truth_persons
from pipeline.io.tables import FaceTables
from pipeline.io.tags_table import tags_in_force
from tests.tables import faces_table, images_table

DIM = 4
CENTRED, CORNER = [30.0, 30.0, 70.0, 70.0], [0.0, 0.0, 20.0, 20.0]  # boxes in a 100 x 100 photo
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _images(uris: list[str], faces: list[int]) -> pa.Table:
    return images_table(uris, [f"id-{u}" for u in uris], faces)


def _faces(rows: list[tuple[str, str, int, list[float]]]) -> pa.Table:
    """Faces rows (face id, uri, index, box)."""
    ids, uris, indexes, boxes = (list(column) for column in zip(*rows)) if rows else ([], [], [], [])
    return faces_table(ids, [f"id-{u}" for u in uris], uris, indexes, boxes, DIM)


def _tags(rows: list[tuple[str, str, str, int]]) -> pa.Table:
    """Tags rows (face id, name, verdict, minutes after NOW)."""
    return pa.table(
        {
            S.FACE_ID: [r[0] for r in rows],
            S.NAME: [r[1] for r in rows],
            S.VERDICT: [r[2] for r in rows],
            S.SOURCE: ["tags.csv"] * len(rows),
            S.TAGGED_BY: ["me"] * len(rows),
            S.TAGGED_AT: [NOW + dt.timedelta(minutes=r[3]) for r in rows],
        },
        schema=S.TAGS_SCHEMA,
    )


def _suggestions(rows: list[tuple[str, str]], uri_of: dict[str, str]) -> pa.Table:
    """Suggestions rows (face id, name)."""
    n = len(rows)
    return pa.table(
        {
            S.SCOPE: [S.DEFAULT_SCOPE] * n,
            S.FACE_ID: [r[0] for r in rows],
            S.IMAGE_ID: [f"id-{uri_of[r[0]]}" for r in rows],
            S.URI: [uri_of[r[0]] for r in rows],
            S.LIBRARY: [S.DEFAULT_LIBRARY] * n,
            S.BBOX: [CENTRED] * n,
            S.NAME: [r[1] for r in rows],
            S.SCORE: [0.8] * n,
            S.EVIDENCE: [["a1"]] * n,
            S.EVIDENCE_LIBRARIES: [[S.DEFAULT_LIBRARY]] * n,
            S.METHOD: ["nearest"] * n,
            S.RUN_ID: ["s"] * n,
        },
        schema=S.SUGGESTIONS_SCHEMA,
    )


@pytest.fixture
def collection(tmp_path: Path) -> tuple[str, str]:
    """Tables at tmp_path/dst and a truth CSV at tmp_path/truth.csv (relative uris)."""
    photo = lambda name: str(tmp_path / "photos" / name)
    faces = [
        ("a1", photo("ann_1.jpg"), 0, CENTRED),
        ("a2", photo("ann_2.jpg"), 0, CENTRED),
        ("a2-corner", photo("ann_2.jpg"), 1, CORNER),  # someone behind Ann: not scored
        ("a3", photo("ann_3.jpg"), 0, CENTRED),
        ("b1", photo("bob_1.jpg"), 0, CENTRED),
        ("b2", photo("bob_2.jpg"), 0, CENTRED),
        ("c1", photo("cat_1.jpg"), 0, CENTRED),
    ]
    counts = {"ann_1.jpg": 1, "ann_2.jpg": 2, "ann_3.jpg": 1, "bob_1.jpg": 1, "bob_2.jpg": 1, "cat_1.jpg": 1}
    counts["bob_3.jpg"] = 0  # no face found
    uris = [photo(name) for name in counts]
    dst = str(tmp_path / "dst")
    FaceTables(dst, StorageConfig(), DIM, "m", "d").commit(_images(uris, list(counts.values())), _faces(faces), [])
    tags = [
        ("a1", "Ann", S.VERDICT_TAG, 0),
        ("b1", "Ann", S.VERDICT_TAG, 1),  # mistaken, then corrected
        ("b1", "Bob", S.VERDICT_TAG, 5),
        ("b2", "Ann", S.VERDICT_REJECTED, 2),  # a rejection tags nothing
    ]
    write_deltalake(f"{dst}/{S.TAGS_TABLE}", _tags(tags))
    uri_of = {face: uri for face, uri, _, _ in faces}
    suggestions = [("a2", "Ann"), ("a2-corner", "Bob"), ("a3", "Bob"), ("b2", "Bob"), ("c1", "Ann")]
    write_deltalake(f"{dst}/{S.SUGGESTIONS_TABLE}", _suggestions(suggestions, uri_of))
    truth = tmp_path / "truth.csv"
    people = {"ann": "Ann", "bob": "Bob", "cat": "Cat"}
    lines = [f"photos/{name},{people[name.split('_')[0]]}" for name in [*counts, "ann_9.jpg"]]  # ann_9: not embedded
    truth.write_text("uri,person\n" + "\n".join(lines) + "\n")
    return dst, str(truth)


def test_evaluation_scores_central_faces(collection: tuple[str, str]) -> None:
    dst, truth = collection
    metrics = evaluate_tags(dst, truth, load_config(None, []))
    # untagged central faces: a2 (Ann, right), a3 (Ann named Bob), b2 (Bob, right), c1 (Cat: a stranger named Ann)
    assert metrics["precision"] == pytest.approx(2 / 4)
    assert metrics["coverage"] == pytest.approx(2 / 3)
    assert metrics["false_alarm"] == 1.0
    assert metrics["counts"]["names_on_unscored_faces"] == 1  # the face behind Ann
    assert metrics["counts"]["tagged_faces"] == 2 and metrics["tags"] == 2
    assert metrics["by_tags_per_person"]["1"]["people"] == 2  # Ann and Bob, one tagged face each
    assert metrics["by_tags_per_person"]["1"]["coverage"] == pytest.approx(2 / 3)
    assert metrics["labelled_photos"] == 8
    assert metrics["labelled_photos_missing_from_tables"] == 1
    assert metrics["labelled_photos_without_face"] == 1
    assert metrics["suggestions"] == 5 and metrics["methods"] == {"nearest": 5}


def test_latest_tag_of_a_face_holds() -> None:
    rows = [("b1", "Bob", S.VERDICT_TAG, 5), ("b1", "Ann", S.VERDICT_TAG, 1), ("a1", "Ann", S.VERDICT_ACCEPTED, 0)]
    rows += [("b2", "Ann", S.VERDICT_REJECTED, 2), ("a1", "Bob", S.VERDICT_REJECTED, 3)]
    assert tags_in_force(_tags(rows)) == {"a1": "Ann", "b1": "Bob"}


def test_truth_needs_uri_and_person(tmp_path: Path) -> None:
    bad = tmp_path / "truth.csv"
    bad.write_text("path,person\na.jpg,Ann\n")
    with pytest.raises(ConfigError, match="uri,person"):
        read_truth_persons(str(bad))
    good = tmp_path / "good.csv"
    good.write_text("uri,person\nsub/a.jpg,Ann\n/abs/b.jpg,Bob\ns3://bucket/c.jpg,Cat\n")
    assert read_truth_persons(str(good)) == {
        str(tmp_path / "sub" / "a.jpg"): "Ann",
        "/abs/b.jpg": "Bob",
        "s3://bucket/c.jpg": "Cat",
    }


def test_missing_suggestions_say_what_to_run(collection: tuple[str, str], tmp_path: Path) -> None:
    dst, truth = collection
    shutil.rmtree(f"{dst}/{S.SUGGESTIONS_TABLE}")
    with pytest.raises(FileNotFoundError, match="tags suggest"):
        evaluate_tags(dst, truth, load_config(None, []))
