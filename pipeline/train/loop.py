"""The training loop one worker runs: get a batch, forward, loss, backward, optimizer step, log;
held-out evaluation and checkpoints are callbacks on their schedules. The objective (``objectives``)
decides what a batch holds and which loss reads it; the records travel in the checkpoints, and the
offline minings are written with them (``callbacks``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pipeline.models.packs import build_network
from pipeline.runtime.ray_train import TrainWorker
from pipeline.train.augment import augment
from pipeline.train.callbacks import CheckpointCallback, HeldOutEvaluation, ProgressLog
from pipeline.train.checkpoint import Progress, read_checkpoint
from pipeline.train.embedding import embed, embed_crops, to_pixels
from pipeline.train.objectives import build_objective


@dataclass(frozen=True)
class LoopSettings:
    """How a worker trains, built by the train job: the network ``architecture``; ``steps`` in all,
    or fewer when ``time_budget_s`` (seconds of steps, mining included) runs out first; Adam's
    ``learning_rate`` and ``weight_decay``; the ``seed`` of the weights, the batches and the
    augmentation; whether to ``augment`` the crops; ``mixed_precision`` (float16 autocast on GPU);
    torch ``threads`` per worker; steps between held-out evaluations and between checkpoints."""

    architecture: str
    steps: int
    time_budget_s: float | None
    learning_rate: float
    weight_decay: float
    seed: int
    augment: bool
    mixed_precision: bool
    threads: int
    eval_every: int
    checkpoint_every: int

    def over(self, step: int, train_s: float) -> bool:
        """Whether a run is over at ``step`` after ``train_s`` seconds of steps."""
        return step >= self.steps or (self.time_budget_s is not None and train_s >= self.time_budget_s)


def train_worker(worker: TrainWorker, args: dict, shared: dict) -> None:
    """The training loop of one worker. ``args``: ``settings`` (``LoopSettings``), ``objective``
    (``ObjectiveSettings``) and ``write_mining`` (writes one offline mining of rank 0; called at each
    checkpoint for the minings since the one before); ``shared``: ``train_data`` (crops, person
    labels) and ``test_data`` (held-out crops, pairs and images folder, or None). Starts from
    ``worker.resume_from`` when the run has a checkpoint (nothing to do when the run it holds is
    over); every ``checkpoint_every`` steps and at the end (after the final evaluation) the workers
    checkpoint through ``worker``."""
    settings, objective = args["settings"], args["objective"]
    rank, world, device = worker.rank, worker.world, worker.device
    torch.set_num_threads(settings.threads)
    crops, labels = shared["train_data"]
    torch.manual_seed(settings.seed)  # one starting point for every worker and every rerun
    network = build_network(settings.architecture)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    progress = read_checkpoint(worker.resume_from, network, optimizer) if worker.resume_from else Progress()
    start = progress.step
    if settings.over(start, progress.train_s):  # its last checkpoint is the result
        return
    model = worker.prepare_model(network)  # to the device; DDP when world > 1
    network = getattr(model, "module", model)
    _move_optimizer_state(optimizer, device)

    log = ProgressLog(progress, worker.progress, rank)
    evaluate = HeldOutEvaluation(shared["test_data"], device, rank, world, log)
    checkpoint = CheckpointCallback(worker, settings.architecture, objective.name, start, args["write_mining"])
    seed = settings.seed + 7919 * rank + start  # a resumed run draws new batches, not the first ones again
    embed_rows = lambda rows: embed_crops(network, crops[rows], device)
    loss_fn, batches = build_objective(objective, labels, seed, embed_rows, on_mined=checkpoint.keep)
    generator = torch.Generator().manual_seed(seed)
    amp = settings.mixed_precision and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    if start == 0:
        evaluate(0, network)
    while progress.step < settings.steps:
        progress.step += 1
        tick = time.monotonic()
        batch = batches(progress.step)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            pixels = to_pixels(crops[batch.rows], device)
            embeddings = embed(model, augment(pixels, generator) if settings.augment else pixels)
            loss, active = loss_fn(embeddings, *batch.targets(device))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        step_s = time.monotonic() - tick
        progress.train_s += step_s
        loss_mean, active_mean, images, train_s = _across_workers(
            [loss.item(), active, len(batch.rows), progress.train_s], world
        )
        log(
            {
                "step": progress.step,
                "loss": round(loss_mean, 5),
                "active": round(active_mean, 4),
                "mining_s": round(batch.mining_s, 3),
                "step_s": round(step_s, 3),
                "images_per_s_per_worker": round(images / world / step_s, 2),
                "train_s": round(train_s, 1),
            }
        )
        if settings.over(progress.step, train_s):  # the end: evaluated and checkpointed below
            break
        if progress.step % settings.eval_every == 0:
            evaluate(progress.step, network)
        if progress.step % settings.checkpoint_every == 0:  # after the evaluation: a resumed run keeps its record
            checkpoint(network, optimizer, progress)
    evaluate(progress.step, network)
    checkpoint(network, optimizer, progress)


def _across_workers(figures: list[float], world: int) -> tuple[float, float, float, float]:
    """A step's (loss, active fraction, images, training seconds) over the workers: loss and active
    fraction averaged, images summed, the slowest worker's seconds (which decide the time budget)."""
    totals = torch.tensor(figures, dtype=torch.float64)
    if world > 1:
        gathered = [torch.zeros_like(totals) for _ in range(world)]
        dist.all_gather(gathered, totals)
        stacked = torch.stack(gathered)
        totals = torch.cat([stacked[:, :2].mean(0), stacked[:, 2:3].sum(0), stacked[:, 3:].max(0).values])
    loss, active, images, train_s = totals.tolist()
    return loss, active, images, train_s


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Optimizer moments follow the weights to ``device`` (a resumed run reads them onto the CPU)."""
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.to(device)
