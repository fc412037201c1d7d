"""People per scope: a circle's libraries clustered together, a library in no circle alone, each scope as a
store of its faces alone would cluster it, and nothing of one scope in another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline import schema as S
from pipeline.config import StorageConfig, load_config
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.io.circles import remove_from_circle, set_circle
from pipeline.io.tables import FaceTables, read_table
from pipeline.people.cluster_job import cluster
from tests.tables import faces_table, images_table

DIM = 128
# who is in which library: people 0-4 in anna's, 5-9 in ben's, 10-14 in carl's, 15-19 in dora's; person 0's
# photos are in anna's and ben's libraries, person 10's in ben's and carl's
LIBRARY_OF_PERSON = {p: ["anna", "ben", "carl", "dora"][p // 5] for p in range(20)}
SHARED = {0: ("anna", "ben"), 10: ("ben", "carl")}


@pytest.fixture(scope="module")
def people() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(vectors, person of each face, library of each face)."""
    data = face_like_embeddings(20, DIM, faces_per_identity=(6, 12), seed=5)
    libraries, seen = [], {}
    for person in data.labels.tolist():
        seen[person] = seen.get(person, 0) + 1
        shared = SHARED.get(person)
        libraries.append(shared[seen[person] % 2] if shared else LIBRARY_OF_PERSON[person])
    return data.vectors, data.labels, libraries


def _store(dst: Path, people, libraries_kept: set[str]) -> str:
    """A store of the faces of ``libraries_kept``, one face a photo, in two commits per library."""
    vectors, _, libraries = people
    tables = FaceTables(str(dst), StorageConfig(), DIM, "m", "d")
    for library in sorted(libraries_kept):
        rows = [i for i, name in enumerate(libraries) if name == library]
        for part in (rows[::2], rows[1::2]):
            uris = [f"/{library}/{i}.jpg" for i in part]
            images = images_table(uris, uris, [1] * len(part), library=library)
            faces = faces_table(
                [f"face-{i:04d}" for i in part],
                uris,
                uris,
                [0] * len(part),
                [[0, 0, 100, 100]] * len(part),
                DIM,
                vectors[part],
                library=library,
            )
            tables.commit(images, faces, [])
    return str(dst)


def _people_of(dst: str, scope: str) -> dict[str, int]:
    clusters = read_table(dst, S.CLUSTERS_TABLE)
    rows = clusters.filter(pc.equal(clusters[S.SCOPE], scope))
    return dict(zip(rows[S.FACE_ID].to_pylist(), rows[S.CLUSTER_ID].to_pylist()))


def _partition(labels: dict[str, int]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for face, label in labels.items():
        groups.setdefault(label if label >= 0 else hash(face), set()).add(face)
    return {frozenset(group) for group in groups.values()}


def test_each_scope_is_clustered_as_its_faces_alone_would_be(tmp_path: Path, people) -> None:
    config = load_config(None, [])
    dst = _store(tmp_path / "store", people, {"anna", "ben", "carl", "dora"})
    set_circle(dst, "family", ["anna", "ben"], config)
    set_circle(dst, "school", ["ben", "carl"], config)
    found = cluster(dst, config)
    assert found.scopes == 3

    clusters = read_table(dst, S.CLUSTERS_TABLE)
    members = {
        scope: set(pc.unique(clusters.filter(pc.equal(clusters[S.SCOPE], scope))[S.LIBRARY]).to_pylist())
        for scope in pc.unique(clusters[S.SCOPE]).to_pylist()
    }
    assert members == {"circle/family": {"anna", "ben"}, "circle/school": {"ben", "carl"}, "library/dora": {"dora"}}
    for scope, libraries, circle in [
        ("circle/family", {"anna", "ben"}, ("family", ["anna", "ben"])),
        ("circle/school", {"ben", "carl"}, ("school", ["ben", "carl"])),
        ("library/dora", {"dora"}, None),
    ]:
        alone = _store(tmp_path / scope.replace("/", "-"), people, libraries)
        if circle:
            set_circle(alone, *circle, config)
        cluster(alone, config)
        assert _partition(_people_of(dst, scope)) == _partition(_people_of(alone, scope)), scope

    vectors, truth, libraries = people
    face_person = {f"face-{i:04d}": int(p) for i, p in enumerate(truth)}
    family = _people_of(dst, "circle/family")
    shared = {label for face, label in family.items() if face_person[face] == 0}
    assert len(shared) == 1 and -1 not in shared, "person 0 of anna's and ben's photos is one person in their circle"
    bens = [face for face, p in face_person.items() if libraries[int(face[5:])] == "ben" and p == 7]
    school = _people_of(dst, "circle/school")
    assert {family[face] for face in bens}.isdisjoint({school[face] for face in bens}), "another id in each circle"
    persons = read_table(dst, S.PERSONS_TABLE)
    assert persons.num_rows == len(set(persons[S.CLUSTER_ID].to_pylist())), "cluster ids are unique in the store"


def test_leaving_a_circle_takes_the_shared_people_away_at_the_next_run(tmp_path: Path, people) -> None:
    config = load_config(None, [])
    dst = _store(tmp_path / "store", people, {"ben", "carl"})
    set_circle(dst, "school", ["ben", "carl"], config)
    cluster(dst, config)
    _, truth, libraries = people
    tens = {f"face-{i:04d}" for i, p in enumerate(truth) if p == 10}
    assert len({_people_of(dst, "circle/school")[face] for face in tens}) == 1

    remove_from_circle(dst, "school", ["carl"], config)
    cluster(dst, config)
    clusters = read_table(dst, S.CLUSTERS_TABLE)
    assert set(pc.unique(clusters[S.SCOPE]).to_pylist()) == {"library/ben", "library/carl"}
    for scope in ("library/ben", "library/carl"):
        rows = clusters.filter(pc.equal(clusters[S.SCOPE], scope))
        assert set(pc.unique(rows[S.LIBRARY]).to_pylist()) == {scope.split("/")[1]}, "no face of the other library"
    bens, carls = _people_of(dst, "library/ben"), _people_of(dst, "library/carl")
    assert {bens[f] for f in tens if f in bens}.isdisjoint({carls[f] for f in tens if f in carls})


def test_a_store_of_one_library_keeps_its_scope_and_ids(tmp_path: Path, people) -> None:
    """Tables of one library: scope library/default, ids from 0 as before scopes, and an incremental run
    keeps them."""
    config = load_config(None, [])
    vectors, _, _ = people
    tables = FaceTables(str(tmp_path / "one"), StorageConfig(), DIM, "m", "d")
    uris = [f"/p/{i}.jpg" for i in range(len(vectors))]
    faces = faces_table(
        [f"f{i}" for i in range(len(uris))], uris, uris, [0] * len(uris), [[0, 0, 99, 99]] * len(uris), DIM, vectors
    )
    tables.commit(images_table(uris, uris, [1] * len(uris)), faces, [])
    first = cluster(tables.tables, config)
    assert first.scopes == 1 and first.merge_rule
    persons = read_table(tables.tables, S.PERSONS_TABLE)
    assert set(persons[S.SCOPE].to_pylist()) == {S.DEFAULT_SCOPE}
    assert sorted(persons[S.CLUSTER_ID].to_pylist()) == list(range(persons.num_rows))
    again = cluster(tables.tables, config, incremental=True)
    assert again.incremental and _people_of(tables.tables, S.DEFAULT_SCOPE) == _people_of(
        tables.tables, S.DEFAULT_SCOPE
    )
    assert pa.array(sorted(read_table(tables.tables, S.PERSONS_TABLE)[S.CLUSTER_ID].to_pylist())).equals(
        pa.array(sorted(persons[S.CLUSTER_ID].to_pylist()))
    )


def test_a_small_collection_measures_its_level_at_most_at_the_models() -> None:
    from pipeline.people.calibration import MergeMargins, calibrated

    one = face_like_embeddings(1, DIM, faces_per_identity=(12, 12), seed=2).vectors  # one person's faces
    own = calibrated(one, MergeMargins(0.38, 0.27), 0)
    capped = calibrated(one, MergeMargins(0.38, 0.27, ceiling=0.0875), 0)
    assert own.impostor_level > 0.3, "one person's faces: the 'different-person' level is theirs"
    assert capped.impostor_level == 0.0875 and capped.describe()["source"] == "model"
    assert "the model's level, 0.087, is used" in capped.describe()["why"]
    nobody = calibrated(one, MergeMargins(0.38, 0.27, ceiling=0.0875), 0, np.zeros(12, int))
    assert nobody.impostor_level == 0.0875 and nobody.measured is None, "no pair left: the model's level"
    many = face_like_embeddings(30, DIM, faces_per_identity=(2, 4), seed=3).vectors
    assert calibrated(many, MergeMargins(0.38, 0.27, ceiling=0.5), 0).describe()["source"] == "calibrated"


def test_a_new_scope_never_takes_an_id_an_earlier_scope_keeps(tmp_path: Path) -> None:
    """One person in zed's library (cluster 0), then amy's library arrives, a scope before zed's: amy's
    person gets a new id, not zed's 0."""
    from pipeline.similarity.thresholds import REFERENCE_MODEL  # its FAR curve records the level small scopes use

    config = load_config(None, [])
    data = face_like_embeddings(2, DIM, faces_per_identity=(8, 8), seed=4)
    tables = FaceTables(str(tmp_path / "store"), StorageConfig(), DIM, REFERENCE_MODEL, "d")
    for library, person in (("zed", 0), ("amy", 1)):
        rows = np.flatnonzero(data.labels == person)
        uris = [f"/{library}/{i}.jpg" for i in rows]
        faces = faces_table(
            [f"f{i}" for i in rows],
            uris,
            uris,
            [0] * len(rows),
            [[0, 0, 99, 99]] * len(rows),
            DIM,
            data.vectors[rows],
            REFERENCE_MODEL,
            library=library,
        )
        tables.commit(images_table(uris, uris, [1] * len(rows), library=library), faces, [])
        cluster(tables.tables, config)
    persons = read_table(tables.tables, S.PERSONS_TABLE)
    assert persons.num_rows == 2 and sorted(persons[S.CLUSTER_ID].to_pylist()) == [0, 1]
