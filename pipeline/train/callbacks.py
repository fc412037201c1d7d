"""The callbacks the training loop only calls (arcface_torch style): the log every record goes
through, the held-out evaluation and the checkpoint, which also writes the offline minings kept
since the one before."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist

from pipeline.io.readers import LfwPair
from pipeline.runtime.ray_train import TrainWorker
from pipeline.train.checkpoint import Progress, write_checkpoint
from pipeline.train.held_out import held_out_metrics
from pipeline.train.mining import Mining

HeldOut = tuple[dict[str, np.ndarray], list[LfwPair], str]  # crop per photo uri, pairs, their images folder


class ProgressLog:
    """The one place every record goes (a step's figures, a held-out evaluation): rank 0 keeps each in
    ``progress`` (the records travel in the checkpoints) and shows it with ``show`` (on the driver);
    the other ranks keep nothing."""

    def __init__(self, progress: Progress, show: Callable[[dict], None], rank: int):
        self.progress, self.show, self.rank = progress, show, rank

    def __call__(self, record: dict) -> None:
        if self.rank == 0:
            self.progress.records.append(record)
            self.show(record)


class HeldOutEvaluation:
    """Rank 0 evaluates the network on ``held_out`` (nothing when None) and logs the figures; with
    ``world`` > 1 every worker waits for it, so that no step's time holds an evaluation."""

    def __init__(
        self, held_out: HeldOut | None, device: torch.device, rank: int, world: int, log: Callable[[dict], None]
    ):
        self.held_out, self.device, self.rank, self.world, self.log = held_out, device, rank, world, log

    def __call__(self, step: int, network: torch.nn.Module) -> None:
        if self.rank == 0 and self.held_out is not None:
            crops, pairs, images = self.held_out
            self.log({"step": step, "eval": held_out_metrics(network, crops, pairs, images, self.device)})
        if self.world > 1:
            dist.barrier()


class CheckpointCallback:
    """Called by every worker at the same steps (a barrier). Rank 0 first hands the offline minings
    kept since the last checkpoint to ``write_mining`` (those of rank 0's subsets), then fills the
    checkpoint folder ``step-NNNNNN`` (the pack of ``architecture``, the optimizer's state, the
    progress) that Ray Train persists, reporting the step and ``resumed_from`` (the step this run
    started at) with it."""

    def __init__(
        self,
        worker: TrainWorker,
        architecture: str,
        objective: str,
        resumed_from: int,
        write_mining: Callable[[Mining], None],
    ):
        self.worker, self.architecture, self.objective = worker, architecture, objective
        self.resumed_from, self.write_mining = resumed_from, write_mining
        self.kept: list[Mining] = []

    def keep(self, mining: Mining) -> None:
        """Hold ``mining`` in memory until the next checkpoint."""
        self.kept.append(mining)

    def __call__(self, network: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: Progress) -> None:
        rank_zero = self.worker.rank == 0
        if rank_zero:
            for mining in self.kept:
                self.write_mining(mining)
        self.kept.clear()
        info = {"steps": progress.step, "objective": self.objective, "model": self.architecture}
        write = lambda directory: write_checkpoint(directory, self.architecture, network, optimizer, progress, info)
        self.worker.checkpoint(
            f"step-{progress.step:06d}",
            {"step": progress.step, "resumed_from_step": self.resumed_from},
            write if rank_zero else None,
        )
