"""Engines against OpenCV's reference on real photos: box IoU, landmark error, embedding cosine.

    python -m benchmarks.engine_equivalence --lfw-dir DIR [--photos 1000] [--device cpu|cuda]
        [--save-reference FILE | --reference FILE]

The reference is OpenCV's YuNet (one photo at a time) and SFace on the reference's aligned faces.
It can be saved on a machine with OpenCV 4.x and loaded where OpenCV differs (OpenCV 5 cannot run
the int8 SFace). The torch (and on CPU the OpenVINO) YuNet runs batched; the torch (and on CPU the
onnxruntime and OpenVINO) SFace embeds the reference's aligned faces. Every engine runs on one thread
(OpenCV's too); each one's milliseconds per photo (detectors) or per face (embedders) are timed in
the same run (batches of 32 photos). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from pipeline.config import ModelsConfig
from pipeline.models.align import align_faces
from pipeline.models.registry import load_detector, load_embedder, resolve_models


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def opencv_reference(photos: list[Path]) -> dict[str, np.ndarray]:
    """OpenCV's detections and embeddings: counts per photo, then boxes, landmarks, embeddings per face."""
    detector = load_detector(resolve_models(ModelsConfig(device="cpu", detector_engine="opencv")))
    embedder = load_embedder(resolve_models(ModelsConfig(device="cpu", embedder_engine="opencv")))
    counts, boxes, landmarks, embeddings = [], [], [], []
    detect_seconds = embed_seconds = 0.0
    for path in photos:
        image = load(path)
        started = time.perf_counter()
        found = detector.detect(image)
        detect_seconds += time.perf_counter() - started
        counts.append(len(found))
        boxes.append(found.boxes)
        landmarks.append(found.landmarks)
        crops = align_faces(image, found.landmarks)
        started = time.perf_counter()
        embeddings.append(embedder(crops))
        embed_seconds += time.perf_counter() - started
    return {
        "seconds": np.array([detect_seconds, embed_seconds]),
        "counts": np.array(counts),
        "boxes": np.concatenate(boxes),
        "landmarks": np.concatenate(landmarks),
        "embeddings": np.concatenate(embeddings),
    }


def compare(photos: list[Path], device: str, reference: dict[str, np.ndarray], batch: int = 32) -> dict:
    """Equivalence figures of the batched detectors and the embedders (torch; on CPU also OpenVINO,
    and onnxruntime for SFace) against ``reference``: per detector engine box IoU, landmark error and
    photos with another face count; per embedder engine the cosine to OpenCV's embedding (minimum,
    mean, share of faces >= 0.995)."""
    cpu_engines = ("openvino",) if device == "cpu" else ()
    detectors = {
        engine: load_detector(resolve_models(ModelsConfig(device=device, detector_engine=engine)))
        for engine in ("torch", *cpu_engines)
    }
    embedders = {
        engine: load_embedder(resolve_models(ModelsConfig(device=device, embedder_engine=engine)))
        for engine in ("torch", *cpu_engines, *(("onnxruntime",) if device == "cpu" else ()))
    }
    warm = [load(p) for p in photos[:batch]]  # first calls (shape planning, lazy init) are not timed
    for engine in detectors.values():
        engine(warm)
    for engine in embedders.values():
        engine(np.zeros((batch, 112, 112, 3), np.uint8))
    starts = np.cumsum([0, *reference["counts"]])
    spent = dict.fromkeys([*detectors, *(f"embed {name}" for name in embedders)], 0.0)
    ious: dict[str, list[float]] = {name: [] for name in detectors}
    errors: dict[str, list[float]] = {name: [] for name in detectors}
    mismatched = dict.fromkeys(detectors, 0)
    cosines: dict[str, list[float]] = {name: [] for name in embedders}
    for first in range(0, len(photos), batch):
        images = [load(p) for p in photos[first : first + batch]]
        found = {}
        for name, detector in detectors.items():
            started = time.perf_counter()
            found[name] = detector(images)
            spent[name] += time.perf_counter() - started
        for k, image in enumerate(images):
            at = slice(starts[first + k], starts[first + k + 1])
            boxes, marks, vectors = reference["boxes"][at], reference["landmarks"][at], reference["embeddings"][at]
            for name, per_photo in found.items():
                mine = per_photo[k]
                mismatched[name] += len(boxes) != len(mine)
                for j in range(min(len(boxes), len(mine))):
                    ious[name].append(box_iou(boxes[j], mine.boxes[j]))
                    errors[name].append(
                        float(np.linalg.norm((marks[j] - mine.landmarks[j]).reshape(5, 2), axis=1).mean())
                    )
            if len(boxes):
                crops = align_faces(image, marks)
                for name, embedder in embedders.items():
                    started = time.perf_counter()
                    vectors_here = embedder(crops)
                    spent[f"embed {name}"] += time.perf_counter() - started
                    cosines[name].extend((vectors_here * vectors).sum(axis=1).tolist())
    faces = int(reference["counts"].sum())
    opencv_detect, opencv_embed = reference.get("seconds", (np.nan, np.nan))
    return {
        "photos": len(photos),
        "device": device,
        "faces": faces,
        "threads": 1,
        "opencv_ms_per_photo": round(float(opencv_detect) * 1000 / len(photos), 2),
        "opencv_ms_per_face": round(float(opencv_embed) * 1000 / faces, 2),
        "detectors": {
            name: {
                "ms_per_photo": round(spent[name] * 1000 / len(photos), 2),
                "photos_with_other_face_count": mismatched[name],
                "box_iou_min": round(min(ious[name]), 5),
                "box_iou_mean": round(float(np.mean(ious[name])), 5),
                "landmark_error_px_mean": round(float(np.mean(errors[name])), 4),
                "landmark_error_px_max": round(max(errors[name]), 4),
            }
            for name in detectors
        },
        "embedders": {
            name: {
                "ms_per_face": round(spent[f"embed {name}"] * 1000 / faces, 2),
                "cosine_min": round(min(v), 6),
                "cosine_mean": round(float(np.mean(v)), 6),
                "share_cosine_at_least_0995": round(float(np.mean(np.array(v) >= 0.995)), 5),
            }
            for name, v in cosines.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", required=True)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--save-reference", type=Path)
    parser.add_argument("--reference", type=Path)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    photos = sorted((Path(args.lfw_dir) / "images").glob("*/*.jpg"))
    photos = photos[:: max(1, len(photos) // args.photos)][: args.photos]
    if args.reference:
        reference = dict(np.load(args.reference))
    else:
        reference = opencv_reference(photos)
    if args.save_reference:
        np.savez(args.save_reference, **reference)
        return
    print(json.dumps(compare(photos, args.device, reference)))


if __name__ == "__main__":
    main()
