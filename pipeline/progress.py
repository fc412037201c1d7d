"""Progress a person can see: on a terminal, a bar per long piece of work (done / total, rate, time left);
off a terminal (CI, cron, KubeRay) no bar, the jobs' log lines (one per commit) say how far they are;
``shown(False)`` (the CLI's --quiet) turns the bars off anywhere."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_SHOWN: ContextVar[bool | None] = ContextVar("facepipe_progress_shown", default=None)  # None: on a terminal


@contextmanager
def shown(bars: bool | None) -> Iterator[None]:
    """Inside the block, bars are shown (``bars`` True) or not (False), wherever the output goes; None:
    when stderr is a terminal (the default)."""
    token = _SHOWN.set(bars)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def _wanted() -> bool:
    choice = _SHOWN.get()
    return sys.stderr.isatty() if choice is None else choice


class Progress:
    """A bar of ``total`` ``unit``s (None: unknown) named ``what`` on stderr when bars are wanted; call
    ``advance(n)`` as work finishes. Use it as a context manager (the bar goes when the block ends)."""

    def __init__(self, what: str, total: int | None = None, unit: str = "it"):
        self._bar = None
        if _wanted():
            from tqdm import tqdm  # here: a process that shows no bar never imports it

            self._bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)

    def advance(self, done: int = 1, **figures: object) -> None:
        """``done`` more units finished; ``figures`` shown beside the bar (e.g. step=..., loss=...)."""
        if self._bar is not None:
            if figures:
                self._bar.set_postfix(figures, refresh=False)
            self._bar.update(done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
