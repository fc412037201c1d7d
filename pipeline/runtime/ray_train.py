"""Training loops on Ray Train: one loop per worker (TorchTrainer: DDP over gloo on CPU, NCCL on GPU),
large inputs shared through the object store, failed workers restarted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
import ray.train
import ray.train.torch
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer


@dataclass(frozen=True)
class TrainWorker:
    """The worker a training loop runs on: its rank among ``world`` workers, its torch device, and how
    to prepare a network for it (to the device; DistributedDataParallel when world > 1)."""

    rank: int
    world: int
    device: Any  # torch.device
    prepare_model: Callable


def _worker(settings: dict) -> None:
    context = ray.train.get_context()
    worker = TrainWorker(
        context.get_world_rank(), context.get_world_size(), ray.train.torch.get_device(), ray.train.torch.prepare_model
    )
    shared = {key: ray.get(ref) for key, ref in settings["shared"].items()}
    settings["loop"](worker, settings["args"], shared)


def train_on_ray(
    loop: Callable[[TrainWorker, dict, dict], None],
    args: dict,
    shared: dict,
    workers: int,
    cpus_per_worker: float,
    use_gpu: bool,
    storage_path: str,
    name: str,
) -> None:
    """Run ``loop(worker, args, shared)`` on ``workers`` Ray Train workers of ``cpus_per_worker`` CPUs
    (and a GPU each with ``use_gpu``); ``shared`` values travel once through the object store. A
    failed worker group is restarted twice (the loop resumes from its own checkpoints)."""
    refs = {key: ray.put(value) for key, value in shared.items()}
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"loop": loop, "args": args, "shared": refs},
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(name=name, storage_path=storage_path, failure_config=FailureConfig(max_failures=2)),
    )
    trainer.fit()
