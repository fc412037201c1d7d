"""The training loop one worker runs: an embedder trained with the triplet loss (offline semi-hard or
hard mining every n steps with the latest weights, or batch-hard / batch-semi-hard mining inside
P x K batches) or the contrastive loss; metrics and held-out evaluations kept in its checkpoints,
each offline mining's triplets in the output (see ``train_job``)."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
import torch.nn.functional as F

from pipeline.config import StorageConfig, TrainConfig
from pipeline.io import store
from pipeline.io.readers import LfwPair
from pipeline.metrics.verification import roc_curve, verification_metrics
from pipeline.models.packs import build_network
from pipeline.runtime.ray_train import TrainWorker
from pipeline.train.checkpoint import Progress, read_checkpoint, write_checkpoint
from pipeline.train.losses import batch_hard_triplet_loss, batch_semi_hard_triplet_loss, contrastive_loss, triplet_loss
from pipeline.train.mining import mine_triplets
from pipeline.train.sampler import PKSampler

log = logging.getLogger(__name__)

TRIPLETS = "triplets"
EMBED_BATCH = 128


# --- tensors ---------------------------------------------------------------------------------
def to_pixels(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, 112, 112, 3) uint8 crops as an (N, 3, 112, 112) float tensor of 0..255 on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float()


def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips, shifts up to 4 px, scale 0.95-1.05, brightness and contrast +-20%."""
    n = len(pixels)
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(pixels.device)
    scale = 0.95 + 0.1 * rand(n)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0).to(pixels.device)
    theta = torch.zeros(n, 2, 3, device=pixels.device)
    theta[:, 0, 0], theta[:, 1, 1] = scale * flip, scale
    theta[:, :, 2] = (rand(n, 2) - 0.5) * (8 / 112)  # +-4 px in normalised coordinates
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    moved = F.grid_sample(pixels, grid, align_corners=False, padding_mode="border")
    mean = moved.mean(dim=(1, 2, 3), keepdim=True)
    contrast, brightness = 0.8 + 0.4 * rand(n, 1, 1, 1), 0.8 + 0.4 * rand(n, 1, 1, 1)
    return ((moved - mean) * contrast + mean * brightness).clamp(0, 255)


def embed(network: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Unit embeddings of a pixel batch (gradients flow)."""
    return F.normalize(network(pixels)[0].float().reshape(len(pixels), -1), dim=1)


def embed_crops(network: torch.nn.Module, crops: np.ndarray, device: torch.device) -> np.ndarray:
    """Unit embeddings of many crops, in eval mode, without gradients."""
    was_training = network.training
    network.eval()
    with torch.no_grad():
        out = [
            embed(network, to_pixels(crops[i : i + EMBED_BATCH], device)).cpu().numpy()
            for i in range(0, len(crops), EMBED_BATCH)
        ]
    network.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 128), np.float32)


def held_out_metrics(
    network: torch.nn.Module, crops: dict[str, np.ndarray], pairs: list[LfwPair], images: str, device: torch.device
) -> dict:
    """Accuracy and VAL at FAR 1e-3 on held-out pairs (10-fold cross-validated thresholds within
    them; a pair with a faceless photo counts as an error), and the ROC's area (which moves before
    accuracy does early in training from scratch)."""
    uris = sorted(crops)
    vectors = dict(zip(uris, embed_crops(network, np.stack([crops[u] for u in uris]), device)))
    resolve = lambda rel: str((Path(images) / rel).resolve())
    similarity = np.array(
        [
            float(vectors[resolve(p.a)] @ vectors[resolve(p.b)])
            if resolve(p.a) in vectors and resolve(p.b) in vectors
            else np.nan
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    metrics = verification_metrics(similarity, same, np.arange(len(pairs)) % 10)
    far, tar, _ = roc_curve(similarity, same)
    auc = float(np.trapezoid(np.r_[0.0, tar, 1.0], np.r_[0.0, far, 1.0]))
    return {
        "accuracy": round(metrics["accuracy"], 4),
        "val_at_far_0.001": round(metrics["val_at_far_0.001"], 4),
        "auc": round(auc, 4),
        "pairs": len(pairs),
    }


# --- one worker ------------------------------------------------------------------------------
class _Step:
    """What one training step needs: the loss of the configured objective on this worker's batch."""

    def __init__(self, cfg: TrainConfig, crops: np.ndarray, labels: np.ndarray, rank: int, start: int, device):
        self.cfg, self.crops, self.labels, self.device = cfg, crops, labels, device
        seed = cfg.seed + 7919 * rank + start  # a resumed run draws new batches, not the first ones again
        self.sampler = PKSampler(labels, cfg.people_per_batch, cfg.faces_per_person, seed)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.triplets = None
        self.batch_size = cfg.people_per_batch * cfg.faces_per_person

    def pixels(self, rows: np.ndarray) -> torch.Tensor:
        pixels = to_pixels(self.crops[rows], self.device)
        return augment(pixels, self.generator) if self.cfg.augment else pixels

    def mine(self, network: torch.nn.Module) -> int:
        """Embed a fresh subset with the current weights and mine it; returns the triplets found."""
        subset = self.sampler.people_subset(self.cfg.mine_people, self.cfg.mine_faces_per_person)
        vectors = embed_crops(network, self.crops[subset], self.device)
        strategy = "semi_hard" if self.cfg.objective == "offline_semi_hard" else "hard"
        found = mine_triplets(vectors, self.labels[subset], strategy, self.cfg.margin, self.cfg.mine_neighbours)
        self.triplets = (subset, found)
        return len(found)

    def loss(self, model: torch.nn.Module) -> tuple[torch.Tensor, float, int]:
        """(loss, active fraction, images embedded) of one batch."""
        cfg = self.cfg
        if cfg.objective.startswith("offline"):
            subset, found = self.triplets
            pick = self.rng.choice(len(found), max(1, self.batch_size // 3), replace=len(found) < self.batch_size // 3)
            rows = np.concatenate(
                [subset[found.anchor[pick]], subset[found.positive[pick]], subset[found.negative[pick]]]
            )
            a, p, n = embed(model, self.pixels(rows)).chunk(3)
            return (*triplet_loss(a, p, n, cfg.margin), len(rows))
        rows, persons = self.sampler.batch()
        vectors = embed(model, self.pixels(rows))
        persons = torch.from_numpy(persons).to(self.device)
        if cfg.objective == "batch_hard":
            return (*batch_hard_triplet_loss(vectors, persons, cfg.margin), len(rows))
        if cfg.objective == "batch_semi_hard":
            return (*batch_semi_hard_triplet_loss(vectors, persons, cfg.margin), len(rows))
        # contrastive: each face paired with another face of its person and with a face of someone else
        k = cfg.faces_per_person
        own = torch.arange(len(rows), device=self.device)
        partner = (own // k) * k + (
            own % k + 1 + torch.from_numpy(self.rng.integers(0, k - 1, len(rows))).to(self.device)
        ) % k
        other = (
            own + k * torch.from_numpy(self.rng.integers(1, cfg.people_per_batch, len(rows))).to(self.device)
        ) % len(rows)
        first = torch.cat([vectors, vectors])
        second = torch.cat([vectors[partner], vectors[other]])
        same = torch.cat([torch.ones(len(rows)), torch.zeros(len(rows))]).to(self.device)
        return (*contrastive_loss(first, second, same, cfg.contrastive_margin), len(rows))


def train_worker(worker: TrainWorker, args: dict, shared: dict) -> None:
    """The training loop of one worker: ``args`` holds the train section, the output (where rank 0
    writes each offline mining's triplets) and its storage settings; ``shared`` the training crops and
    labels and the held-out data. Starts from ``worker.resume_from`` when the run has a checkpoint
    (nothing to do when it holds the last step); every ``checkpoint_every`` steps and at the end (after
    the final evaluation) the workers checkpoint through ``worker``, rank 0 writing the folder."""
    cfg, output, storage = TrainConfig(**args["train"]), args["output"], StorageConfig(**args["storage"])
    rank, world, device = worker.rank, worker.world, worker.device
    torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))
    crops, labels = shared["train_data"]
    torch.manual_seed(cfg.seed)  # one starting point for every worker and every rerun
    network = build_network(cfg.model)
    optimizer = torch.optim.Adam(network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    progress = read_checkpoint(worker.resume_from, network, optimizer) if worker.resume_from else Progress()
    start = progress.step
    spent = lambda seconds: cfg.time_budget_s is not None and seconds >= cfg.time_budget_s
    if start >= cfg.steps or spent(progress.train_s):  # a finished run: its last checkpoint is the result
        return
    model = worker.prepare_model(network)  # to the device; DDP when world > 1
    network = getattr(model, "module", model)
    for group in optimizer.state.values():  # optimizer moments follow the weights to the device
        for key, value in group.items():
            if isinstance(value, torch.Tensor):
                group[key] = value.to(device)
    step_state = _Step(cfg, crops, labels, rank, start, device)
    evaluation = shared["test_data"]
    images_per_epoch = len(labels)
    eval_every = cfg.eval_every or max(1, images_per_epoch // (step_state.batch_size * world))
    amp = cfg.mixed_precision and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def record(entry: dict) -> None:
        """Rank 0 keeps every record (they travel in the checkpoints) and shows it on the driver."""
        progress.records.append(entry)
        worker.progress(entry)

    def evaluate(step: int) -> None:
        """Rank 0 evaluates; the others wait here, so that no step's time holds an evaluation."""
        if rank == 0 and evaluation is not None:
            crops_by_uri, pairs, images = evaluation
            record({"step": step, "eval": held_out_metrics(network, crops_by_uri, pairs, images, device)})
        if world > 1:
            dist.barrier()

    def checkpoint() -> None:
        info = {"steps": progress.step, "objective": cfg.objective, "model": cfg.model}
        write = lambda directory: write_checkpoint(directory, cfg.model, network, optimizer, progress, info)
        worker.checkpoint(
            f"step-{progress.step:06d}",
            {"step": progress.step, "resumed_from_step": start},
            write if rank == 0 else None,
        )

    if start == 0:
        evaluate(0)
    while progress.step < cfg.steps:
        progress.step += 1
        step = progress.step
        tick = time.monotonic()
        mining_s = 0.0
        if cfg.objective.startswith("offline") and (step_state.triplets is None or (step - 1) % cfg.mine_every == 0):
            found = step_state.mine(network)
            mining_s = time.monotonic() - tick
            if rank == 0:
                subset, triplets = step_state.triplets
                buffer = io.BytesIO()
                pq.write_table(triplets.table(np.array(args["train_uris"])[subset], step), buffer)
                store.write_bytes(store.join(output, TRIPLETS, f"step-{step:06d}.parquet"), buffer.getvalue(), storage)
            if not found:
                raise RuntimeError("offline mining found no triplets: raise train.mine_people or train.mine_neighbours")
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss, active, images = step_state.loss(model)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        step_s = time.monotonic() - tick
        progress.train_s += step_s
        totals = torch.tensor([loss.item(), active, images, progress.train_s], dtype=torch.float64)
        if world > 1:  # every worker's figures; the slowest worker's clock decides the time budget
            gathered = [torch.zeros_like(totals) for _ in range(world)]
            dist.all_gather(gathered, totals)
            stacked = torch.stack(gathered)
            totals = torch.cat([stacked[:, :2].mean(0), stacked[:, 2:3].sum(0), stacked[:, 3:].max(0).values])
        if rank == 0:
            record(
                {
                    "step": step,
                    "loss": round(totals[0].item(), 5),
                    "active": round(totals[1].item(), 4),
                    "mining_s": round(mining_s, 3),
                    "step_s": round(step_s, 3),
                    "images_per_s_per_worker": round(totals[2].item() / world / step_s, 2),
                    "train_s": round(totals[3].item(), 1),
                }
            )
        if step >= cfg.steps or spent(totals[3].item()):  # the end: evaluated and checkpointed below
            break
        if step % eval_every == 0:
            evaluate(step)
        if step % cfg.checkpoint_every == 0:  # after the evaluation: a resumed run keeps its record
            checkpoint()
    evaluate(progress.step)
    checkpoint()
