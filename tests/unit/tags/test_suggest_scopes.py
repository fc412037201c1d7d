"""Names per scope: a face is suggested a name only from the tags of its own library or of a library it
shares a circle with (not transitively), each scope as a store of its faces alone would name it, and a
library that leaves a circle loses the names it had from there."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.io import store
from pipeline.io.circles import remove_from_circle, set_circle
from pipeline.io.tables import FaceTables, read_table
from pipeline.io.tags_table import record_tags
from pipeline.tags.suggest_job import suggest_tags
from pipeline.tags.tags_job import remove_tags, rename_tags
from tests.tables import faces_table, images_table, people_vectors
from tests.unit.tags.test_suggest_job import DIM, MODEL

SIZES = {"anna": 16, "bob": 12, "carl": 12, "dora": 10}
# each library's faces: (person, first, stop) of people_vectors' faces of that person
LIBRARIES = {
    "amy": [("anna", 0, 8), ("bob", 0, 6)],
    "bea": [("anna", 8, 13), ("carl", 0, 6)],
    "cid": [("carl", 6, 12), ("bob", 6, 12)],
    "dan": [("dora", 0, 10), ("anna", 13, 16)],
}
TAGS = {
    "amy": [("anna", 0), ("anna", 1)],
    "cid": [("carl", 6), ("carl", 7), ("bob", 6), ("bob", 7)],
    "dan": [("dora", 0)],
}
CIRCLES = {"family": ["amy", "bea"], "work": ["bea", "cid"]}


def _store(dst: str, libraries: list[str], circles: dict[str, list[str]]) -> str:
    storage = Config().resolved_storage()
    people, vectors = people_vectors(SIZES, DIM, seed=1)
    index = {}
    for i, person in enumerate(people):
        index.setdefault(person, []).append(i)
    writer = FaceTables(dst, storage, DIM, MODEL, "d")
    for library in libraries:
        rows = [(person, n, index[person][n]) for person, first, stop in LIBRARIES[library] for n in range(first, stop)]
        ids = [f"{person}-{n}" for person, n, _ in rows]
        uris = [store.join("/photos", library, f"{face}.jpg") for face in ids]
        images = images_table(uris, [f"img-{f}" for f in ids], [1] * len(ids), side=120, size=1000, library=library)
        faces = faces_table(
            ids,
            [f"img-{f}" for f in ids],
            uris,
            [0] * len(ids),
            [[10.0, 10.0, 60.0, 60.0]] * len(ids),
            DIM,
            vectors[[i for _, _, i in rows]],
            MODEL,
            library=library,
        )
        writer.commit(images, faces, [])
    tags = [(f"{person}-{n}", person) for library in libraries for person, n in TAGS.get(library, [])]
    record_tags(
        dst,
        pa.table({S.FACE_ID: [t[0] for t in tags], S.NAME: [t[1] for t in tags], S.VERDICT: ["tag"] * len(tags)}),
        storage,
    )
    for circle, members in circles.items():
        set_circle(dst, circle, members)
    return dst


def _suggestions(dst: str) -> list[dict]:
    return read_table(dst, S.SUGGESTIONS_TABLE).to_pylist()


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> str:
    dst = _store(str(tmp_path_factory.mktemp("store") / "store"), list(LIBRARIES), CIRCLES)
    suggest_tags(dst, Config())
    return dst


def test_names_come_only_from_libraries_that_share_a_circle(platform: str) -> None:
    rows = _suggestions(platform)
    assert rows, "the names reach the faces of the circles"
    visible = {"amy": {"amy", "bea"}, "bea": {"amy", "bea", "cid"}, "cid": {"bea", "cid"}, "dan": {"dan"}}
    for row in rows:
        assert set(row[S.EVIDENCE_LIBRARIES]) <= visible[row[S.LIBRARY]], row
        scope_libraries = {"circle/family": {"amy", "bea"}, "circle/work": {"bea", "cid"}, "library/dan": {"dan"}}
        assert (
            row[S.LIBRARY] in scope_libraries[row[S.SCOPE]]
            and set(row[S.EVIDENCE_LIBRARIES]) <= scope_libraries[row[S.SCOPE]]
        )
    names_in = {}
    for row in rows:
        names_in.setdefault(row[S.LIBRARY], set()).add(row[S.NAME])
    assert "anna" in names_in["bea"], "anna tagged in amy's library is suggested in bea's (their circle)"
    assert "carl" in names_in["bea"], "carl tagged in cid's library is suggested in bea's (their circle)"
    assert "bob" not in names_in.get("amy", set()), "bob tagged in cid's only: amy shares no circle with cid"
    assert "anna" not in names_in.get("dan", set()), "dan is in no circle: no name of another library"


def test_each_scope_is_named_as_its_faces_alone_would_be(platform: str, tmp_path: Path) -> None:
    key = lambda row: (row[S.FACE_ID], row[S.NAME], round(row[S.SCORE], 5), tuple(row[S.EVIDENCE]))
    for scope, libraries, circles in [
        ("circle/family", ["amy", "bea"], {"family": ["amy", "bea"]}),
        ("circle/work", ["bea", "cid"], {"work": ["bea", "cid"]}),
        ("library/dan", ["dan"], {}),
    ]:
        alone = _store(str(tmp_path / scope.replace("/", "-")), libraries, circles)
        suggest_tags(alone, Config())
        mine = sorted(key(r) for r in _suggestions(platform) if r[S.SCOPE] == scope)
        assert mine == sorted(key(r) for r in _suggestions(alone)), scope


def test_leaving_a_circle_takes_its_names_away(tmp_path: Path) -> None:
    dst = _store(str(tmp_path / "store"), ["amy", "bea"], {"family": ["amy", "bea"]})
    suggest_tags(dst, Config())
    assert any(r[S.LIBRARY] == "bea" and r[S.NAME] == "anna" for r in _suggestions(dst))
    remove_from_circle(dst, "family")
    suggest_tags(dst, Config())
    assert not any(r[S.LIBRARY] == "bea" and r[S.NAME] == "anna" for r in _suggestions(dst))
    assert set(pc.unique(read_table(dst, S.SUGGESTIONS_TABLE)[S.SCOPE]).to_pylist()) <= {"library/amy"}


def test_a_name_changes_in_one_library_only(tmp_path: Path) -> None:
    """In a store of several libraries, renaming or removing a name needs the library it is one's own in."""
    from pipeline.errors import ConfigError

    dst = _store(str(tmp_path / "store"), ["amy", "cid"], {})
    record_tags(dst, pa.table({S.FACE_ID: ["bob-0"], S.NAME: ["bob"], S.VERDICT: ["tag"]}), StorageConfig())
    with pytest.raises(ConfigError, match="name the one whose tags change"):
        rename_tags(dst, "bob", "robert", Config())
    renamed = rename_tags(dst, "bob", "robert", Config(), library="amy")
    assert renamed.renamed == 1
    names = dict(
        zip(read_table(dst, S.TAGS_TABLE)[S.FACE_ID].to_pylist(), read_table(dst, S.TAGS_TABLE)[S.NAME].to_pylist())
    )
    assert names["bob-0"] == "robert" and names["bob-6"] == "bob", "cid's bob is cid's"
    remove_tags(dst, Config(), name="bob", library="cid")
    assert "bob" not in read_table(dst, S.TAGS_TABLE)[S.NAME].to_pylist()
