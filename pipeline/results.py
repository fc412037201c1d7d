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
