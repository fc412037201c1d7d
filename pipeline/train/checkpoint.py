"""A training checkpoint, a folder: the model pack at its step (usable as it is), the optimizer's state,
the step and training seconds reached, and every metrics record up to that step. A resumed run starts
from it; the job publishes the last one's pack and metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pipeline.models.packs import load_pack, write_pack

PACK, METRICS, OPTIMIZER = "pack", "metrics.jsonl", "optimizer.pt"


@dataclass
class Progress:
    """Where training stands: the last step taken, the seconds spent in steps (mining included: the
    time budget's clock) and the metrics records so far (a line per step and per held-out evaluation)."""

    step: int = 0
    train_s: float = 0.0
    records: list[dict] = field(default_factory=list)


def parse_metrics(text: str) -> list[dict]:
    """The records of a metrics.jsonl file's text."""
    return [json.loads(line) for line in text.splitlines()]


def write_checkpoint(
    directory: Path,
    architecture: str,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
    info: dict,
) -> None:
    """Fill ``directory`` with the pack of ``network`` (``info`` in its manifest), the optimizer's state
    with the step and seconds of ``progress``, and its records."""
    write_pack(directory / PACK, architecture, network, info)
    torch.save(
        {"step": progress.step, "train_s": progress.train_s, "optimizer": optimizer.state_dict()},
        directory / OPTIMIZER,
    )
    (directory / METRICS).write_text("".join(json.dumps(record) + "\n" for record in progress.records))


def read_checkpoint(directory: Path, network: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Progress:
    """Load the checkpoint in ``directory`` into ``network`` and ``optimizer``; returns its progress."""
    network.load_state_dict(load_pack(directory / PACK).state_dict())
    state = torch.load(directory / OPTIMIZER, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    return Progress(state["step"], state["train_s"], parse_metrics((directory / METRICS).read_text()))
