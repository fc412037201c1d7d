"""Every job that writes a library holds it alone and leaves a row in its runs table: the exit code each
outcome records, and the CLI's exit 3 naming the run that holds the library."""

from __future__ import annotations

import pytest

from jobs.cli import main
from pipeline import schema as S
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.io.lease import LeaseHeld
from pipeline.io.library_run import library_run
from pipeline.io.tables import read_table


def exit_codes(dst: str) -> dict[str, int]:
    return {row[S.COMMAND]: row[S.EXIT_CODE] for row in read_table(dst, S.RUNS_TABLE).to_pylist()}


def test_every_outcome_is_recorded_with_its_exit_code_and_lets_go(tmp_path) -> None:
    dst, config = str(tmp_path / "library"), load_config()
    with library_run(dst, ["facepipe", "ok"], config):
        pass
    with library_run(dst, "facepipe missing-photos", config) as run:
        run.exit_code = 1
    failures = {
        "system-exit-4": SystemExit(4),
        "system-exit-message": SystemExit("facepipe dedup: --tables is required"),
        "config-error": ConfigError("no faces"),
        "bug": KeyError("oops"),
    }
    for name, failure in failures.items():
        with pytest.raises(type(failure)), library_run(dst, name, config):
            raise failure

    assert exit_codes(dst) == {
        "facepipe ok": 0,
        "facepipe missing-photos": 1,
        "system-exit-4": 4,
        "system-exit-message": 1,
        "config-error": 2,
        "bug": 1,
    }


def test_a_second_writer_exits_3_naming_the_holder_and_writes_nothing(tmp_path, capsys) -> None:
    dst = str(tmp_path / "library")
    with library_run(dst, "facepipe nightly", load_config()) as holder:
        assert main(["cluster", "--tables", dst]) == 3
        err = capsys.readouterr().err
        assert err.startswith("facepipe cluster: ") and holder.run_id in err and "lease expires at" in err
        with pytest.raises(LeaseHeld) as refused, library_run(dst, "facepipe index", load_config()):
            pass
        assert refused.value.holder["run_id"] == holder.run_id
    assert exit_codes(dst) == {"facepipe nightly": 0}  # the refused runs left no row

    assert main(["cluster", "--tables", dst]) == 2  # free again: it runs, and finds no faces
    assert exit_codes(dst) == {"facepipe nightly": 0, f"facepipe cluster --tables {dst}": 2}
