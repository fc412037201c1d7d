"""Training loops on Ray Train: one loop per worker (TorchTrainer: DDP over gloo on CPU, NCCL on GPU),
large inputs shared through the object store, checkpoints persisted by Ray Train to the run's storage
(a folder every node reaches, or s3://), a run resumed from its latest checkpoint, failed workers
restarted, and the workers' progress records relayed to the driver."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any, TypeVar

import pyarrow.fs
import ray
import ray.train
import ray.train.torch
from ray.train import Checkpoint, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from ray.util.queue import Queue

from pipeline.config import StorageConfig
from pipeline.io import store

T = TypeVar("T")


@dataclass(frozen=True)
class TrainWorker:
    """The worker a training loop runs on: its rank among ``world`` workers, its torch device, how to
    prepare a network for it (to the device; DistributedDataParallel when world > 1), and the run's
    latest checkpoint (a local folder, read-only; None on a fresh start).

    ``progress(record)`` shows a record on the driver (no barrier). ``checkpoint(name, metrics, write)``
    is called by every worker at the same steps (a barrier): where ``write`` is given (rank 0), it
    fills a fresh folder that Ray Train persists as checkpoint ``name`` with ``metrics``."""

    rank: int
    world: int
    device: Any  # torch.device
    prepare_model: Callable
    resume_from: Path | None
    progress: Callable[[dict], None]
    checkpoint: Callable[[str, dict, Callable[[Path], None] | None], None]


def _checkpoint(name: str, metrics: dict, write: Callable[[Path], None] | None) -> None:
    if write is None:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        write(Path(directory))
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(directory), checkpoint_dir_name=name)


def _worker(settings: dict) -> None:
    context = ray.train.get_context()
    latest = ray.train.get_checkpoint()
    with latest.as_directory() if latest else contextlib.nullcontext() as resume_from:
        worker = TrainWorker(
            context.get_world_rank(),
            context.get_world_size(),
            ray.train.torch.get_device(),
            ray.train.torch.prepare_model,
            Path(resume_from) if resume_from else None,
            settings["progress"].put_nowait,
            _checkpoint,
        )
        shared = {key: ray.get(ref) for key, ref in settings["shared"].items()}
        settings["loop"](worker, settings["args"], shared)


def _storage(output: str, storage: StorageConfig | None) -> tuple[str, pyarrow.fs.FileSystem | None]:
    """Ray Train's storage path and filesystem for ``output``: a folder as it is; an s3:// prefix through
    pyarrow's S3 filesystem with the endpoint, region and keys every other writer of the output uses."""
    if not store.is_s3(output):
        return output, None
    options = store.delta_storage_options(output, storage)  # the one resolution of endpoint, region, keys
    filesystem = pyarrow.fs.S3FileSystem(
        endpoint_override=options.get("AWS_ENDPOINT_URL"),
        region=options.get("AWS_REGION"),
        access_key=options.get("AWS_ACCESS_KEY_ID"),
        secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
        session_token=options.get("AWS_SESSION_TOKEN"),
    )
    return output.split("://", 1)[1], filesystem


def _relay(progress: Queue, on_progress: Callable[[dict], None], done: threading.Event) -> None:
    while not (done.is_set() and progress.empty()):
        with contextlib.suppress(Empty):
            on_progress(progress.get(timeout=0.5))


def train_on_ray(
    loop: Callable[[TrainWorker, dict, dict], None],
    args: dict,
    shared: dict,
    workers: int,
    cpus_per_worker: float,
    use_gpu: bool,
    output: str,
    storage: StorageConfig | None,
    name: str,
    on_progress: Callable[[dict], None],
    collect: Callable[[Path, dict], T],
) -> T:
    """Run ``loop(worker, args, shared)`` on ``workers`` Ray Train workers of ``cpus_per_worker`` CPUs
    (and a GPU each with ``use_gpu``); ``shared`` values travel once through the object store.

    Checkpoints go to ``output``/``name`` (a folder every node reaches, or s3:// with ``storage``). A
    run started again with the same output and name resumes from its latest checkpoint: Ray Train
    finds the run's snapshot there and hands that checkpoint to the workers (``TorchTrainer.restore``
    and ``resume_from_checkpoint`` are gone from Ray Train V2). A failed worker group is restarted
    twice, from the latest checkpoint too. ``on_progress`` receives the workers' progress records on
    the driver. Returns ``collect(folder, metrics)`` of the run's latest checkpoint (a local copy,
    and the metrics rank 0 reported with it)."""
    refs = {key: ray.put(value) for key, value in shared.items()}
    progress = Queue(actor_options={"num_cpus": 0})
    storage_path, filesystem = _storage(output, storage)
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"loop": loop, "args": args, "shared": refs, "progress": progress},
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            storage_filesystem=filesystem,
            failure_config=FailureConfig(max_failures=2),
        ),
    )
    done = threading.Event()
    relay = threading.Thread(target=_relay, args=(progress, on_progress, done), daemon=True)
    relay.start()
    try:
        result = trainer.fit()
    finally:
        done.set()
        relay.join()
        progress.shutdown()
    with result.checkpoint.as_directory() as directory:
        return collect(Path(directory), result.metrics)
