"""How fast the embed job moves photos when the models cost nothing: the real job (Ray, read,
decode, dedup fingerprints, alignment, Arrow batches, tables) with YuNet and SFace replaced by stand-ins
that return the same shapes at once. Benchmark only: nothing outside benchmarks/ can reach them.

    python -m benchmarks.ceiling --input DIR [--in-process] [--set KEY=VALUE]

On a local Ray (the path of runs from ray.in_process_below photos up), or with --in-process in this
process (the path of smaller runs), whatever the number of photos. The stand-ins are installed in
this process and in every Ray worker (by a process setup hook). The detector finds one face
per photo, centred, with the ArcFace template's landmarks (the crops are real warps); the embedder
returns a fixed unit vector per face. Prints the `facepipe bench` JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from pipeline.config import load_config
from pipeline.ingest.bench import run_bench
from pipeline.models.align import ARCFACE_TEMPLATE, CROP_SIZE
from pipeline.models.detectors import Detections
from pipeline.models.protocols import TEMPLATE_ALIGNMENT


class CentredFace:
    """Detector stand-in: one face per photo, the middle half of the photo, template landmarks."""

    model_id, device, max_side, device_input = "ceiling-detector", "cpu", 0, False

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        found = []
        for image in images:
            height, width = image.shape[:2]
            side = min(height, width) / 2
            left, top = (width - side) / 2, (height - side) / 2
            points = ARCFACE_TEMPLATE * (side / CROP_SIZE) + (left, top)
            found.append(
                Detections(
                    np.array([[left, top, left + side, top + side]], np.float32),
                    points.reshape(1, 10).astype(np.float32),
                    np.ones(1, np.float32),
                )
            )
        return found


class ConstantEmbedding:
    """Embedder stand-in: the same unit vector for every crop."""

    model_id, device, device_input = "ceiling-embedder", "cpu", False
    crop_size, alignment = CROP_SIZE, TEMPLATE_ALIGNMENT

    def __init__(self, dim: int):
        self.dim = dim
        self.vector = np.full(dim, 1 / np.sqrt(dim), np.float32)

    def __call__(self, crops) -> np.ndarray:
        return np.tile(self.vector, (len(crops), 1))


def use_stand_ins() -> None:
    """Replace the model loaders the model stage calls (run in each Ray worker at start)."""
    import pipeline.ingest.analyze as analyze

    analyze.load_detector = lambda models, threads=1: CentredFace()
    analyze.load_embedder = lambda models, threads=1: ConstantEmbedding(models.embedder.dim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder or s3:// prefix of photos")
    parser.add_argument("--in-process", action="store_true", help="run the job in this process, not on Ray")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, [*args.set, *(["ray.in_process_below=1000000000"] if args.in_process else [])])
    use_stand_ins()
    if not args.in_process:
        import ray  # only this path needs it (a GPU image may have no Ray)

        ray.init(
            address="local",
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"worker_process_setup_hook": "benchmarks.ceiling.use_stand_ins"},
        )
    figures = run_bench(args.input, config)
    figures["models"] = {"detector": CentredFace.model_id, "embedder": ConstantEmbedding.model_id}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
