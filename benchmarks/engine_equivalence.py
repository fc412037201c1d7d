"""Engines against OpenCV's reference on real photos: box IoU, landmark error, embedding cosine.

    python -m benchmarks.engine_equivalence --lfw-dir DIR [--photos 1000] [--device cpu|cuda]

Runs YuNet (OpenCV, one photo at a time) as the reference and the torch YuNet (batched) on the
same photos; embeds the reference's aligned faces with OpenCV's SFace and with the torch (and on
CPU the onnxruntime) engine. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.align import align_faces
from pipeline.config import ModelsConfig
from pipeline.models import create_detector, create_embedder


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def compare(photos: list[Path], device: str, batch: int = 32) -> dict:
    """Equivalence figures of the non-OpenCV engines against OpenCV over ``photos``."""
    reference_detector = create_detector(ModelsConfig(device="cpu", detector_engine="opencv"))
    torch_detector = create_detector(ModelsConfig(device=device, detector_engine="torch"))
    reference_embedder = create_embedder(ModelsConfig(device="cpu", embedder_engine="opencv"))
    engines = {"torch": create_embedder(ModelsConfig(device=device, embedder_engine="torch"))}
    if device == "cpu":
        engines["onnxruntime"] = create_embedder(ModelsConfig(device="cpu", embedder_engine="onnxruntime"))
    ious, landmark_errors, count_mismatch = [], [], 0
    cosines: dict[str, list[float]] = {name: [] for name in engines}
    for start in range(0, len(photos), batch):
        images = [np.asarray(Image.open(p).convert("RGB")) for p in photos[start : start + batch]]
        ours = torch_detector(images)
        for image, mine in zip(images, ours):
            reference = reference_detector.detect(image)
            count_mismatch += len(reference) != len(mine)
            for k in range(min(len(reference), len(mine))):
                ious.append(box_iou(reference.boxes[k], mine.boxes[k]))
                delta = (reference.landmarks[k] - mine.landmarks[k]).reshape(5, 2)
                landmark_errors.append(float(np.linalg.norm(delta, axis=1).mean()))
            if len(reference):
                crops = align_faces(image, reference.landmarks)
                expected = reference_embedder(crops)
                for name, engine in engines.items():
                    cosines[name].extend((engine(crops) * expected).sum(axis=1).tolist())
    return {
        "photos": len(photos),
        "device": device,
        "faces_compared": len(ious),
        "photos_with_other_face_count": count_mismatch,
        "box_iou_min": round(min(ious), 5),
        "box_iou_mean": round(float(np.mean(ious)), 5),
        "landmark_error_px_mean": round(float(np.mean(landmark_errors)), 4),
        "landmark_error_px_max": round(max(landmark_errors), 4),
        **{f"embedding_cosine_min_{name}": round(min(v), 6) for name, v in cosines.items()},
        **{f"embedding_cosine_mean_{name}": round(float(np.mean(v)), 6) for name, v in cosines.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", required=True)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    photos = sorted((Path(args.lfw_dir) / "images").glob("*/*.jpg"))
    step = max(1, len(photos) // args.photos)
    print(json.dumps(compare(photos[::step][: args.photos], args.device)))


if __name__ == "__main__":
    main()
