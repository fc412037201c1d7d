"""A stage of a batch pipeline, as the domain packages declare it and the runtime runs it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import pyarrow as pa


@dataclass(frozen=True)
class Stage:
    """A function of a pyarrow.Table batch with ``kwargs`` bound, or a class built once with ``kwargs``
    (state such as a loaded model) whose instances are called per batch; ``batch_size`` rows at a time."""

    fn: Callable[..., pa.Table] | type
    batch_size: int
    kwargs: dict = field(default_factory=dict)

    @property
    def stateful(self) -> bool:
        return inspect.isclass(self.fn)

    def ready(self) -> Callable[[pa.Table], pa.Table]:
        """The stage as a callable of one batch, in this process (a class is instantiated now)."""
        return self.fn(**self.kwargs) if self.stateful else partial(self.fn, **self.kwargs)
