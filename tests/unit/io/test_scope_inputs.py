"""What a scope's results were made from: digests that do not depend on how rows lie in the files and move
with any change of a scope's photos, tags, libraries or the job's settings; and the plan they give."""

from __future__ import annotations

import pyarrow as pa

from pipeline import schema as S
from pipeline.io.circles import Scope
from pipeline.io.scope_inputs import ScopePlan, library_digests, scope_digest, tag_digests


def _rows(pairs: list[tuple[str, str]]) -> pa.Table:
    return pa.table({S.LIBRARY: [library for library, _ in pairs], S.FACE_ID: [face for _, face in pairs]})


def test_a_library_digest_is_its_rows_whatever_their_order_and_moves_with_any_change() -> None:
    rows = [("a", "1"), ("b", "2"), ("a", "3"), ("b", "4")]
    first = library_digests(_rows(rows), [S.FACE_ID])
    assert first == library_digests(_rows(rows[::-1]), [S.FACE_ID])
    assert set(first) == {"a", "b"}
    changed = library_digests(_rows([*rows[:3], ("b", "5")]), [S.FACE_ID])
    assert changed["a"] == first["a"] and changed["b"] != first["b"]
    removed = library_digests(_rows(rows[:3]), [S.FACE_ID])
    assert removed["a"] == first["a"] and removed["b"] != first["b"]
    assert library_digests(_rows([]), [S.FACE_ID]) == {}


def test_tags_count_for_the_library_of_their_face() -> None:
    faces = _rows([("a", "1"), ("b", "2")])
    tags = pa.table(
        {S.FACE_ID: ["1", "2"], S.NAME: ["Anna", "Ben"], S.VERDICT: ["tag", "tag"], S.TAGGED_AT: [None, None]}
    )
    first = tag_digests(tags, faces)
    renamed = tag_digests(tags.set_column(1, S.NAME, pa.array(["Anna", "Bob"])), faces)
    assert renamed["a"] == first["a"] and renamed["b"] != first["b"]


def test_a_scope_digest_moves_with_its_libraries_their_rows_and_the_settings() -> None:
    digests = {"a": "1:x", "b": "2:y", "c": "1:z"}
    circle = Scope("circle/c1", ("a", "b"))
    base = scope_digest(circle, {"k": 1}, digests)
    assert base == scope_digest(circle, {"k": 1}, dict(digests))
    assert base != scope_digest(Scope("circle/c1", ("a", "b", "c")), {"k": 1}, digests)
    assert base != scope_digest(circle, {"k": 2}, digests)
    assert base != scope_digest(circle, {"k": 1}, {**digests, "b": "3:w"})
    assert base == scope_digest(circle, {"k": 1}, {**digests, "c": "9:q"})  # not its library


def test_the_plan_runs_changed_scopes_records_the_done_and_replaces_only_theirs() -> None:
    a, b, c = Scope("library/a", ("a",)), Scope("library/b", ("b",)), Scope("circle/x", ("a", "b"))
    digests = {"a": "1", "b": "2"}
    first = ScopePlan.of([a, b], {}, {}, True, digests)
    assert [scope.name for scope in first.todo] == ["library/a", "library/b"]
    recorded = first.recorded({"library/a"})  # library/b failed: not recorded, so it runs again
    assert recorded == {"library/a": first.now["library/a"]}
    again = ScopePlan.of([a, b], {}, recorded, True, digests)
    assert [scope.name for scope in again.todo] == ["library/b"]
    assert again.replaced({"library/b"}, {"library/a"}, first=False) == ["library/b"]
    assert again.replaced({"library/a", "library/b"}, {"circle/gone"}, first=False) is None  # all: overwritten
    assert again.replaced(set(), set(), first=True) is None
    assert again.replaced(set(), {"library/a", "circle/gone"}, first=False) == ["circle/gone"]
    everything = ScopePlan.of([a, b, c], {}, recorded, False, digests)
    assert len(everything.todo) == 3
    moved = ScopePlan.of([a, b], {}, {**recorded, **again.recorded({"library/b"})}, True, {**digests, "b": "3"})
    assert [scope.name for scope in moved.todo] == ["library/b"]
    assert moved.replaced({"library/b"}, {"library/a", "library/b", "circle/x"}, False) == ["circle/x", "library/b"]
