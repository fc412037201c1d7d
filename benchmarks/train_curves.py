"""Learning curves of the training objectives on the same data and the same time budget.

    python -m benchmarks.train_curves --lfw ../shared/datasets/lfw --output /tmp/curves [--budget 300]
        [--objectives offline_semi_hard batch_hard contrastive] [--set train.KEY=VALUE ...]

Trains one model per objective (from scratch by default: train.model=mobilefacenet) on LFW's nine
training sets, each for --budget seconds of training, evaluating the held-out fold's 600 pairs every
train.eval_every steps. Writes OUTPUT/curves.png (held-out ROC AUC and accuracy, and the loss
relative to its first step, against training seconds) and prints one JSON object per objective.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.config import load_config
from pipeline.train.checkpoint import METRICS
from pipeline.train.train_job import train_embedder


def _curves(output: Path, objectives: list[str]) -> None:
    figure = Figure(figsize=(15, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    for objective in objectives:
        records = [json.loads(line) for line in (output / objective / METRICS).read_text().splitlines()]
        steps = {r["step"]: r["train_s"] for r in records if "loss" in r}
        evals = [(steps.get(r["step"], 0.0), r["eval"]) for r in records if "eval" in r]
        losses = [(r["train_s"], r["loss"]) for r in records if "loss" in r]
        axes[0].plot([t for t, _ in evals], [e["auc"] for _, e in evals], marker="o", label=objective)
        axes[1].plot([t for t, _ in evals], [e["accuracy"] for _, e in evals], marker="o", label=objective)
        first = losses[0][1] or 1.0
        axes[2].plot([t for t, _ in losses], [v / first for _, v in losses], label=objective, alpha=0.8)
    for axis, title in zip(axes, ("held-out ROC AUC", "held-out accuracy", "loss / loss at step 1")):
        axis.set_xlabel("training seconds (steps and mining, not evaluation)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(output / "curves.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per objective")
    parser.add_argument("--objectives", nargs="+", default=["offline_semi_hard", "batch_hard", "contrastive"])
    parser.add_argument("--tables", help="an earlier run's tables folder holding the LFW photos' detections (reused)")
    parser.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE")
    args = parser.parse_args()
    output = Path(args.output)
    tables = Path(args.tables) if args.tables else None
    for objective in args.objectives:
        run = output / objective
        if tables is not None and not (run / "tables").exists():
            shutil.copytree(tables, run / "tables")
        config = load_config(
            None,
            [
                "train.model=mobilefacenet",
                "train.learning_rate=0.001",
                "train.eval_every=40",
                "train.steps=1000000",
                *args.set,
                f"train.lfw={args.lfw}",
                f"train.objective={objective}",
                f"train.time_budget_s={args.budget}",
            ],
        )
        summary = train_embedder(str(run), config)
        print(summary.to_json(), flush=True)
        tables = tables or run / "tables"
    _curves(output, args.objectives)


if __name__ == "__main__":
    main()
