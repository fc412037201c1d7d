"""What a job returns: a frozen record of what it did, as plain data for the CLI's JSON and the runs table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class JobResult:
    """Base of every job's result: its fields are what the job did; ``as_dict`` is what the CLI prints as
    JSON (subclasses may add figures derived from the fields), ``exit_code`` what the CLI exits with."""

    def as_dict(self) -> dict:
        """The result as JSON-able data."""
        return asdict(self)

    def counts(self) -> dict:
        """The figures the runs table records for the job's step (of which it keeps the plain values)."""
        return self.as_dict()

    def to_json(self) -> str:
        """The result as one line of JSON."""
        return json.dumps(self.as_dict(), default=str)

    @property
    def exit_code(self) -> int:
        """0 when the job did all it was asked; a job whose outcome can be partial says otherwise."""
        return 0


@dataclass(frozen=True)
class PerScopeResult(JobResult):
    """Base of the results of jobs that work per scope (clustering, dedup, tag suggestions), whose fields
    include ``scopes_failed`` (scope -> why it failed): the job did not do all it was asked when one failed
    (exit code 1), and the runs table records how many failed and, in one bounded text, which and why."""

    @property
    def exit_code(self) -> int:
        return 1 if self.scopes_failed else 0

    def counts(self) -> dict:
        figures = self.as_dict()
        failed = figures.pop("scopes_failed")
        named = "; ".join(f"{scope}: {why}" for scope, why in sorted(failed.items()))
        return {**figures, "scopes_failed": len(failed), "failed_scopes": named[:FAILED_SCOPES_TEXT]}


FAILED_SCOPES_TEXT = 2000  # characters of the failed scopes' names and reasons a runs row keeps
