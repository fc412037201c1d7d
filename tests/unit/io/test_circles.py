"""Circles: their table, its changes (each a run under the lease), and the scopes they make."""

from __future__ import annotations

import pytest

from pipeline import schema as S
from pipeline.errors import ConfigError
from pipeline.io.circles import Scope, read_circles, remove_from_circle, scopes, set_circle
from pipeline.io.tables import TablesSnapshot, read_table


def test_scopes_a_circle_its_libraries_and_a_library_in_none_its_own() -> None:
    circles = {"family": ["anna", "ben"], "school": ["ben", "carl"]}
    assert scopes(circles, ["anna", "ben", "carl", "dora"]) == [
        Scope("circle/family", ("anna", "ben")),
        Scope("circle/school", ("ben", "carl")),
        Scope("library/dora", ("dora",)),
    ], "ben is in both circles' scopes and has none of his own; anna never meets carl (not transitive)"
    assert scopes({}, ["dora"]) == [Scope("library/dora", ("dora",))]


def test_circles_set_and_removed(tmp_path) -> None:
    dst = str(tmp_path / "store")
    first = set_circle(dst, "family", ["ben", "anna", "anna"])
    assert first.libraries == ["anna", "ben"] and first.circles == 1
    joined = {row[S.LIBRARY]: row[S.ADDED_AT] for row in read_table(dst, S.CIRCLES_TABLE).to_pylist()}
    set_circle(dst, "school", ["ben", "carl"])
    changed = set_circle(dst, "family", ["anna", "dora"])
    assert changed.left == ["ben"] and changed.circles == 2
    assert read_circles(TablesSnapshot(dst)) == {"family": ["anna", "dora"], "school": ["ben", "carl"]}
    rows = {(row[S.CIRCLE], row[S.LIBRARY]): row for row in read_table(dst, S.CIRCLES_TABLE).to_pylist()}
    assert rows[("family", "anna")][S.ADDED_AT] == joined["anna"], "a library staying in its circle keeps its row"

    alone = remove_from_circle(dst, "school", ["carl"])
    assert alone.libraries == [] and alone.left == ["ben", "carl"], "a circle of one library shares nothing: gone"
    gone = remove_from_circle(dst, "family")
    assert gone.libraries == [] and gone.circles == 0
    assert read_circles(TablesSnapshot(dst)) == {}
    commands = read_table(dst, S.RUNS_TABLE)[S.COMMAND].to_pylist()
    assert (
        sorted(command.split("(")[0] for command in commands)
        == ["pipeline.remove_from_circle"] * 2 + ["pipeline.set_circle"] * 3
    ), "each change is a run of its own"
    assert f"pipeline.remove_from_circle({dst!r}, 'school', libraries=['carl'])" in commands


def test_circle_mistakes_are_refused(tmp_path) -> None:
    dst = str(tmp_path / "store")
    with pytest.raises(ConfigError, match="name two or more"):
        set_circle(dst, "solo", ["anna"])
    with pytest.raises(ConfigError, match="is not a circle id"):
        set_circle(dst, "a/b", ["anna", "ben"])
    with pytest.raises(ConfigError, match="is not a library id"):
        set_circle(dst, "c", ["anna", ""])
    with pytest.raises(ConfigError, match="has no circle 'none'"):
        remove_from_circle(dst, "none")
