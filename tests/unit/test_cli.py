"""The CLI's shared options: --tables in every verb that writes a library, --output kept as a deprecated
alias of it for embed and nightly (it works, and says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.cli import main
from pipeline import schema as S
from pipeline.io.tables import read_table


def test_embed_takes_the_tables_under_the_old_name_with_a_warning(tmp_path: Path, capsys) -> None:
    (tmp_path / "photos").mkdir()
    assert main(["embed", "--input", str(tmp_path / "photos"), "--output", str(tmp_path / "library")]) == 0
    printed = capsys.readouterr()
    assert "--output is deprecated for the library's tables; use --tables" in printed.err
    result = json.loads(printed.out.strip().splitlines()[-1])
    assert result["listed"] == 0 and result["run_id"]
    runs = read_table(str(tmp_path / "library"), S.RUNS_TABLE).to_pylist()
    assert [row[S.RUN_ID] for row in runs] == [result["run_id"]]
    assert runs[0][S.COMMAND].startswith("facepipe embed --input ")  # the command line, not a Python call


def test_the_tables_cannot_be_given_twice(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["nightly", "--input", str(tmp_path), "--tables", str(tmp_path / "a"), "--output", str(tmp_path / "b")])
    assert refused.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
