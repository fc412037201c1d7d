"""`facepipe tags suggest` on committed tables of made-up people: the suggestions table, rejections that
never return, accepted suggestions that become tags, removed names, pending ids, incremental runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.errors import ConfigError
from pipeline.io import store
from pipeline.io.tables import FaceTables, TablesSnapshot, read_table
from pipeline.io.tags_table import delete_tags, record_tags
from pipeline.models.catalog import model_file_stem
from pipeline.similarity.far_curves import SHIPPED
from pipeline.similarity.thresholds import REFERENCE_MODEL
from pipeline.tags.scores import PRIORS
from pipeline.tags.suggest_job import suggest_rules, suggest_tags
from tests.tables import faces_table, images_table, people_vectors

DIM = 64
PEOPLE = {"anna": 15, "bob": 10, "stranger": 12}
# the default model, whose prior ships with the package: libraries of a few tags lean on it
MODEL = json.loads(next(p for p in PRIORS.iterdir() if p.name.endswith(".json")).read_text())["model"]


def commit_faces(
    dst: str, people: list[str], vectors: np.ndarray, first: int, storage: StorageConfig, model: str = MODEL
) -> list[str]:
    """Commit one photo with one face per vector (face ids "<person>-<n>", n counted from ``first``) of
    ``model``."""
    face_ids = [f"{person}-{first + i}" for i, person in enumerate(people)]
    uris = [store.join(dst, "photos", f"{face}.jpg") for face in face_ids]
    images = images_table(uris, [f"img-{face}" for face in face_ids], [1] * len(face_ids), side=120, size=1000)
    boxes = [[10.0, 10.0, 60.0, 60.0]] * len(face_ids)
    faces = faces_table(face_ids, [f"img-{f}" for f in face_ids], uris, [0] * len(face_ids), boxes, DIM, vectors, model)
    FaceTables(dst, storage, DIM, model, "d").commit(images, faces, [])
    return face_ids


def people_library(dst: str, storage: StorageConfig, sizes: dict[str, int] = PEOPLE, seed: int = 0) -> list[str]:
    people, vectors = people_vectors(sizes, DIM, seed)
    return commit_faces(dst, people, vectors, 0, storage)


def tag(dst: str, storage: StorageConfig, rows: list[tuple[str, str, str]]) -> None:
    table = pa.table({S.FACE_ID: [r[0] for r in rows], S.NAME: [r[1] for r in rows], S.VERDICT: [r[2] for r in rows]})
    record_tags(dst, table, storage)


def suggested(dst: str, storage: StorageConfig | None = None) -> dict[str, tuple[str, str]]:
    """face id -> (name, run_id) of the suggestions table."""
    rows = read_table(dst, S.SUGGESTIONS_TABLE, storage).to_pylist()
    return {r[S.FACE_ID]: (r[S.NAME], r[S.RUN_ID]) for r in rows}


@pytest.fixture
def library(tmp_path: Path) -> tuple[str, StorageConfig]:
    dst, storage = str(tmp_path / "tables"), Config().resolved_storage()
    people_library(dst, storage)
    tag(dst, storage, [("anna-0", "anna", "tag"), ("anna-1", "anna", "tag"), ("bob-15", "bob", "tag")])
    return dst, storage


def test_suggest_names_the_tagged_people_and_nobody_else(library) -> None:
    dst, storage = library
    summary = suggest_tags(dst, Config())
    rows = read_table(dst, S.SUGGESTIONS_TABLE).to_pylist()
    by_face = {r[S.FACE_ID]: r for r in rows}
    assert {face: r[S.NAME] for face, r in by_face.items()} == {
        **{f"anna-{i}": "anna" for i in range(2, 15)},
        **{f"bob-{i}": "bob" for i in range(16, 25)},
    }
    tagged = {"anna-0", "anna-1", "bob-15"}
    for r in rows:
        assert r[S.EVIDENCE] and set(r[S.EVIDENCE]) <= tagged and r[S.EVIDENCE][0].startswith(r[S.NAME])
        assert 0.5 < r[S.SCORE] <= 1 and r[S.RUN_ID] == summary.run_id and r[S.URI].endswith(r[S.FACE_ID] + ".jpg")
        assert r[S.METHOD] in ("nearest-tagged", "nearest-named") and r[S.BBOX] == [10.0, 10.0, 60.0, 60.0]
    assert summary.suggestions == 22 and summary.new_suggestions == 22
    assert summary.suggestions_by_tags_per_person == {"1": 9, "2-4": 13, "5+": 0}
    assert summary.untagged_faces_without_suggestion == 12  # the stranger's
    details = TablesSnapshot(dst).details(S.SUGGESTIONS_TABLE, S.SUGGEST_KEY)
    assert details["run_id"] == summary.run_id and details["settings"]["min_precision"] == 0.99


def test_rejected_suggestions_never_return_and_accepted_ones_become_tags(library) -> None:
    dst, storage = library
    first = suggest_tags(dst, Config()).run_id
    tag(dst, storage, [("anna-5", "anna", "rejected"), ("anna-9", "anna", "rejected"), ("bob-20", "bob", "accepted")])
    for _ in range(2):  # two nights later: still never suggested again
        summary = suggest_tags(dst, Config())
        now = suggested(dst)
        assert "anna-5" not in now and "anna-9" not in now  # rejected: never again
        assert "bob-20" not in now  # accepted: a tag now, nothing to suggest
        assert all(run_id == first for _, run_id in now.values())  # pending ones keep their id
        assert summary.new_suggestions == 0 and summary.rejections == 2
    assert summary.tags == 4 and summary.kept_suggestions == len(now)


def test_removing_every_tag_of_a_name_removes_its_suggestions(library) -> None:
    dst, storage = library
    suggest_tags(dst, Config())
    assert "bob" in {name for name, _ in suggested(dst).values()}
    delete_tags(dst, storage, name="bob")
    summary = suggest_tags(dst, Config())
    assert {name for name, _ in suggested(dst).values()} == {"anna"}
    assert summary.dropped_suggestions == 9


def test_an_incremental_run_matches_a_full_run_on_unchanged_faces(tmp_path: Path) -> None:
    """Photos and tags added after a run: the rerun gives the faces the names a full run gives, keeps
    the ids of the suggestions still pending and names the new person."""
    dst, storage = str(tmp_path / "tables"), Config().resolved_storage()
    sizes = {"anna": 15, "bob": 10, "stranger": 12, "carol": 10}
    people, vectors = people_vectors(sizes, DIM, 0)
    people = np.array(people)
    before = people != "carol"
    before[np.flatnonzero(people == "anna")[-3:]] = False  # three photos of anna come later too
    commit_faces(dst, list(people[before]), vectors[before], 0, storage)
    tag(dst, storage, [("anna-0", "anna", "tag"), ("bob-15", "bob", "tag")])
    first = suggest_tags(dst, Config())
    later = commit_faces(dst, list(people[~before]), vectors[~before], 100, storage)
    carol = [face for face in later if face.startswith("carol")]
    tag(dst, storage, [(carol[0], "carol", "tag")])
    full_dst = str(tmp_path / "full")
    shutil.copytree(dst, full_dst)

    incremental = suggest_tags(dst, Config())
    full = suggest_tags(full_dst, Config(), full=True)

    names = {face: name for face, (name, _) in suggested(dst).items()}
    assert names == {face: name for face, (name, _) in suggested(full_dst).items()}
    assert {face for face, name in names.items() if name == "carol"} == set(carol[1:])
    assert {f"anna-{i}" for i in (100, 101, 102)} <= set(names)
    assert incremental.kept_suggestions == first.suggestions and not full.kept_suggestions
    graph = {"kept": True, "added": 13, "gone": 0, "searched_again": 0}
    assert incremental.models[MODEL]["graph"] == graph and full.models[MODEL]["graph"] == {"kept": False}
    assert incremental.new_suggestions == 3 + 9
    assert all(
        run_id == first.run_id
        for face, (_, run_id) in suggested(dst).items()
        if not face.endswith(("100", "101", "102")) and not face.startswith("carol")
    )


def calibrated_like_the_reference(folder: Path, model: str, by: float = 0.0) -> Config:
    """A configuration whose calibrations give ``model`` the reference model's FAR curve moved up by ``by``."""
    record = json.loads((SHIPPED / (model_file_stem(REFERENCE_MODEL) + ".json")).read_text())
    record["curve"]["thresholds"] = [t + by for t in record["curve"]["thresholds"]]
    folder.mkdir(exist_ok=True)
    (folder / (model_file_stem(model) + ".json")).write_text(json.dumps(record))
    return Config(recognize={"calibrations": str(folder)})


def test_a_model_without_a_prior_needs_tags_enough_to_measure(tmp_path: Path) -> None:
    dst, storage = str(tmp_path / "tables"), Config().resolved_storage()
    people, vectors = people_vectors(PEOPLE, DIM, 0)
    commit_faces(dst, people, vectors, 0, storage, model="my-model")
    tag(dst, storage, [("anna-0", "anna", "tag"), ("bob-15", "bob", "tag")])
    summary = suggest_tags(dst, calibrated_like_the_reference(tmp_path / "calibrations", "my-model"))
    assert summary.suggestions == 0 and "no score table ships" in summary.models["my-model"]["why_none"]


def test_a_model_without_a_far_curve_is_refused_with_the_command_that_calibrates_it(tmp_path: Path) -> None:
    dst, storage = str(tmp_path / "tables"), Config().resolved_storage()
    people, vectors = people_vectors(PEOPLE, DIM, 0)
    commit_faces(dst, people, vectors, 0, storage, model="my-model")
    tag(dst, storage, [("anna-0", "anna", "tag"), ("bob-15", "bob", "tag")])
    config = Config(recognize={"calibrations": str(tmp_path / "calibrations")})
    with pytest.raises(ConfigError, match="model my-model has no FAR curve.*facepipe calibrate --lfw-dir"):
        suggest_tags(dst, config)
    assert not (Path(dst) / S.SUGGESTIONS_TABLE).exists()


def test_the_rules_carry_every_similarity_and_margin_to_the_model(tmp_path: Path) -> None:
    """A model whose curve is the reference's moved up by 0.1: every threshold 0.1 higher, margins as wide;
    the reference model itself keeps the configured values exactly."""
    tags = Config().tags
    rules, chosen = suggest_rules(calibrated_like_the_reference(tmp_path, "other", 0.1), "other")
    for value, key in ((rules.naming.similarity, "similarity"), (rules.naming.direct_similarity, "direct_similarity")):
        assert value == pytest.approx(getattr(tags, key) + 0.1, abs=2e-3), key
    assert rules.naming.pass_on == pytest.approx(tags.pass_on + 0.1, abs=2e-3)
    assert rules.suspects.odd_one_out == pytest.approx(tags.odd_one_out + 0.1, abs=2e-3)
    assert rules.suspects.same_person == pytest.approx(0.5942 + 0.1, abs=1e-3)  # beyond the curve: its last point
    assert rules.naming.margin == pytest.approx(tags.margin, abs=2e-3)
    assert rules.suspects.closer_by == pytest.approx(tags.closer_by, abs=2e-3)
    assert all("carried" in chosen[key]["source"] for key in chosen) and len(chosen) == 7
    same, described = suggest_rules(Config(), REFERENCE_MODEL)
    assert (same.naming.similarity, same.naming.margin, same.suspects.closer_by) == (tags.similarity, 0.1, 0.1)
    assert all("as configured" in described[key]["source"] for key in described)


def test_suggest_without_tags_says_what_to_run(tmp_path: Path) -> None:
    dst, storage = str(tmp_path / "tables"), Config().resolved_storage()
    people_library(dst, storage)
    with pytest.raises(Exception, match="tags add"):
        suggest_tags(dst, Config())
