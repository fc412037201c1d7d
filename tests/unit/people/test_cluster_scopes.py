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


def _failing_for_carl(persons_of):
    """``persons_of`` that raises for carl's scope: a scope whose clustering breaks."""

    def fails_for_carl(faces, clustering, run_id, representatives, scope):
        if scope == "library/carl":
            raise RuntimeError("carl's faces broke the clustering")
        return persons_of(faces, clustering, run_id, representatives, scope)

    return fails_for_carl


def _rows_of(dst: str, scope: str) -> list[dict]:
    clusters = read_table(dst, S.CLUSTERS_TABLE)
    return sorted(clusters.filter(pc.equal(clusters[S.SCOPE], scope)).to_pylist(), key=lambda row: row[S.FACE_ID])


def test_changed_only_clusters_the_scopes_whose_faces_changed_and_keeps_the_others_rows(tmp_path: Path, people) -> None:
    config = load_config(None, [])
    dst = _store(tmp_path / "store", people, {"anna", "ben", "carl", "dora"})
    set_circle(dst, "family", ["anna", "ben"], config)
    first = cluster(dst, config, changed_only=True)
    assert (first.scopes, first.scopes_skipped, first.scopes_failed) == (3, 0, {})
    before = {scope: _rows_of(dst, scope) for scope in ("circle/family", "library/carl", "library/dora")}

    vectors, truth, libraries = people
    extra = [i for i, name in enumerate(libraries) if name == "dora"][:4]  # dora photographs the same people again
    uris = [f"/dora/again-{i}.jpg" for i in extra]
    faces = faces_table(
        [f"face-again-{i}" for i in extra],
        uris,
        uris,
        [0] * 4,
        [[0, 0, 100, 100]] * 4,
        DIM,
        vectors[extra] * 0.99,
        library="dora",
    )
    FaceTables(dst, StorageConfig(), DIM, "m", "d").commit(images_table(uris, uris, [1] * 4, library="dora"), faces, [])
    second = cluster(dst, config, changed_only=True)
    assert (second.scopes, second.scopes_skipped) == (1, 2)
    assert _rows_of(dst, "circle/family") == before["circle/family"], "an unchanged scope keeps its rows"
    assert _rows_of(dst, "library/carl") == before["library/carl"]
    doras = _people_of(dst, "library/dora")
    assert {f"face-again-{i}" for i in extra} <= set(doras)
    assert cluster(dst, config, changed_only=True).scopes == 0, "nothing changed: nothing clustered"

    remove_from_circle(dst, "family", ["ben"], config)  # the circle is gone: anna and ben alone again
    left = cluster(dst, config, changed_only=True)
    assert (left.scopes, left.scopes_skipped) == (2, 2)
    clusters = read_table(dst, S.CLUSTERS_TABLE)
    assert set(clusters[S.SCOPE].to_pylist()) == {"library/anna", "library/ben", "library/carl", "library/dora"}
    assert _rows_of(dst, "library/carl") == before["library/carl"]


def test_a_scope_that_fails_keeps_its_rows_and_runs_again_next_time(tmp_path: Path, people, monkeypatch) -> None:
    import pipeline.people.cluster_job as job

    config = load_config(None, [])
    dst = _store(tmp_path / "store", people, {"anna", "carl", "dora"})
    cluster(dst, config, changed_only=True)
    carls = _rows_of(dst, "library/carl")
    vectors, _, libraries = people
    for library in ("carl", "dora"):  # both libraries change
        part = [i for i, name in enumerate(libraries) if name == library][:2]
        uris = [f"/{library}/new-{i}.jpg" for i in part]
        faces = faces_table(
            [f"new-{library}-{i}" for i in part],
            uris,
            uris,
            [0] * 2,
            [[0, 0, 100, 100]] * 2,
            DIM,
            vectors[part],
            library=library,
        )
        FaceTables(dst, StorageConfig(), DIM, "m", "d").commit(
            images_table(uris, uris, [1] * 2, library=library), faces, []
        )
    original = job.persons_of
    monkeypatch.setattr(job, "persons_of", _failing_for_carl(original))
    broken = cluster(dst, config, changed_only=True)
    assert (
        list(broken.scopes_failed) == ["library/carl"]
        and "broke the clustering" in broken.scopes_failed["library/carl"]
    )
    assert broken.exit_code == 1 and broken.scopes == 1 and broken.scopes_skipped == 1
    assert _rows_of(dst, "library/carl") == carls, "the failed scope keeps its earlier rows"
    assert "new-dora-" in str(_people_of(dst, "library/dora")), "the other changed scope went on"
    monkeypatch.setattr(job, "persons_of", original)
    again = cluster(dst, config, changed_only=True)
    assert (again.scopes, again.scopes_skipped, again.exit_code) == (1, 2, 0), "only the failed scope runs again"
    assert any(face.startswith("new-carl-") for face in _people_of(dst, "library/carl"))


def test_a_night_goes_on_past_a_failing_scope_names_it_and_runs_it_again_the_next(
    tmp_path: Path, people, monkeypatch
) -> None:
    import pipeline.people.cluster_job as job
    from pipeline.nightly_job import nightly

    config = load_config(None, ["nightly.steps=[cluster]"])
    dst = _store(tmp_path / "store", people, {"anna", "carl", "dora"})
    original = job.persons_of
    monkeypatch.setattr(job, "persons_of", _failing_for_carl(original))
    first = nightly(str(tmp_path / "src"), dst, config)
    assert first.exit_code == 1 and "library/carl: RuntimeError: carl's faces broke" in first.scopes_failed["cluster"]
    step = next(step for step in first.steps if step["step"] == "cluster")
    assert (step["status"], step["scopes"], step["scopes_failed"]) == ("ok", 2, 1)
    assert set(read_table(dst, S.CLUSTERS_TABLE)[S.SCOPE].to_pylist()) == {"library/anna", "library/dora"}
    night = next(row for row in read_table(dst, S.RUNS_TABLE).to_pylist() if row[S.RUN_ID] == first.run_id)
    assert night[S.EXIT_CODE] == 1 and "library/carl" in night[S.STEPS][0][S.STEP_COUNTS], "the runs row names it"

    monkeypatch.setattr(job, "persons_of", original)
    second = nightly(str(tmp_path / "src"), dst, config)
    step = next(step for step in second.steps if step["step"] == "cluster")
    assert second.exit_code == 0 and (step["scopes"], step["scopes_skipped"]) == (1, 2), "only carl's runs again"
    assert "library/carl" in set(read_table(dst, S.CLUSTERS_TABLE)[S.SCOPE].to_pylist())
