"""The training loop on one stand-in worker (no Ray): the order of its records, the schedules of its
evaluations, checkpoints and minings, the minings written with the checkpoints and never before, a
resumed run that picks up after its checkpoint, and a seeded run that repeats itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.io.readers import LfwPair
from pipeline.runtime.ray_train import TrainWorker
from pipeline.train.checkpoint import METRICS, PACK, parse_metrics
from pipeline.train.loop import LoopSettings, train_worker
from pipeline.train.objectives import ObjectiveSettings

PEOPLE, FACES = 6, 3


def _data() -> dict:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (PEOPLE * FACES, 112, 112, 3), dtype=np.uint8)
    held_out = {f"/held-out/p{i}/{j}.jpg": crops[i * FACES + j] for i in range(PEOPLE) for j in range(2)}
    pairs = [LfwPair(k % 10, k % 2 == 0, f"p{k % PEOPLE}/0.jpg", f"p{(k + k % 2) % PEOPLE}/1.jpg") for k in range(20)]
    return {"train_data": (crops, np.repeat(np.arange(PEOPLE), FACES)), "test_data": (held_out, pairs, "/held-out")}


def _args(steps: int, written: list) -> dict:
    settings = LoopSettings(
        architecture="mobilefacenet",
        steps=steps,
        time_budget_s=None,
        learning_rate=1e-3,
        weight_decay=0.0,
        seed=0,
        augment=True,
        mixed_precision=True,
        threads=1,
        eval_every=2,
        checkpoint_every=2,
    )
    objective = ObjectiveSettings(
        name="offline_hard",
        margin=0.2,
        contrastive_margin=1.0,
        people_per_batch=2,
        faces_per_person=2,
        mine_every=2,
        mine_people=PEOPLE,
        mine_faces_per_person=FACES,
        mine_neighbours=10,
    )
    write_mining = lambda mining: written.append(("mined", mining))
    return {"settings": settings, "objective": objective, "write_mining": write_mining}


def _run(folder: Path, steps: int, resume_from: Path | None = None) -> tuple[list, list]:
    """Run the loop; returns what the driver was shown and the writes, minings and checkpoints in order."""
    shown, written = [], []

    def checkpoint(name: str, metrics: dict, write) -> None:
        (folder / name).mkdir()
        write(folder / name)
        written.append(("checkpoint", name, metrics))

    worker = TrainWorker(0, 1, torch.device("cpu"), lambda network: network, resume_from, shown.append, checkpoint)
    threads = torch.get_num_threads()
    try:
        train_worker(worker, _args(steps, written), _data())
    finally:
        torch.set_num_threads(threads)  # the loop sets the worker's; give the test process its own back
    return shown, written


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple[Path, list, list]:
    folder = tmp_path_factory.mktemp("fresh")
    return folder, *_run(folder, steps=3)


def test_records_evaluations_and_checkpoints_follow_their_schedules(fresh):
    folder, shown, written = fresh
    assert [(r["step"], "eval" if "eval" in r else "loss") for r in shown] == [
        (0, "eval"),
        (1, "loss"),
        (2, "loss"),
        (2, "eval"),
        (3, "loss"),
        (3, "eval"),  # the end: evaluated, then checkpointed
    ]
    steps = [r for r in shown if "loss" in r]
    assert all(r["loss"] > 0 and 0 <= r["active"] <= 1 and r["train_s"] > 0 for r in steps)
    assert [r["mining_s"] > 0 for r in steps] == [True, False, True]  # mined at steps 1 and 3 (mine_every 2)
    assert all(r["eval"]["pairs"] == 20 for r in shown if "eval" in r)
    assert parse_metrics((folder / "step-000003" / METRICS).read_text()) == shown
    assert (folder / "step-000002" / PACK).is_dir()


def test_minings_are_written_with_the_next_checkpoint(fresh):
    _, _, written = fresh
    order = [(w[0], w[1].step if w[0] == "mined" else w[1]) for w in written]
    assert order == [("mined", 1), ("checkpoint", "step-000002"), ("mined", 3), ("checkpoint", "step-000003")]
    assert [w[2] for w in written if w[0] == "checkpoint"] == [
        {"step": 2, "resumed_from_step": 0},
        {"step": 3, "resumed_from_step": 0},
    ]
    mining = written[0][1]
    labels = np.repeat(np.arange(PEOPLE), FACES)[mining.rows]
    triplets = mining.triplets
    assert len(triplets) > 0 and np.all(labels[triplets.anchor] == labels[triplets.positive])
    assert np.all(labels[triplets.anchor] != labels[triplets.negative])


def test_resumed_run_picks_up_after_its_checkpoint(fresh, tmp_path: Path):
    folder, first, _ = fresh
    shown, written = _run(tmp_path, steps=3, resume_from=folder / "step-000002")
    assert [(r["step"], "eval" in r) for r in shown] == [(3, False), (3, True)]
    assert [w[0] for w in written] == ["mined", "checkpoint"] and written[0][1].step == 3  # mines at its first step
    assert written[1][1:] == ("step-000003", {"step": 3, "resumed_from_step": 2})
    kept = parse_metrics((tmp_path / "step-000003" / METRICS).read_text())
    assert kept[:4] == first[:4] and kept[4:] == shown  # the first run's records up to step 2, then its own
    assert _run(tmp_path / "again", steps=3, resume_from=tmp_path / "step-000003") == ([], [])  # over: nothing to do


def test_seeded_run_repeats_itself(fresh, tmp_path: Path):
    _, first, _ = fresh
    again, _ = _run(tmp_path, steps=1)
    clocks = {"mining_s", "step_s", "images_per_s_per_worker", "train_s"}
    figures = lambda records: [{k: v for k, v in r.items() if k not in clocks} for r in records]
    assert figures(again[:2]) == figures(first[:2])  # the step-0 evaluation, step 1's loss and active fraction
