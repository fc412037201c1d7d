"""The plain loop facepipe must beat: one process, OpenCV's own YuNet and SFace on the same model
files, every photo read, every face detected, aligned and embedded, nothing written.

    python -m benchmarks.reference_loop --input DIR [--max-side 640]

Prints one JSON object: photos, faces, seconds (model loading included) and photos/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.models.catalog import packaged_model_file

EXTENSIONS = {".jpg", ".jpeg", ".png"}


def photos_in(folder: Path) -> list[Path]:
    """The photos under ``folder``, in name order."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)


def run_loop(photos: list[Path], max_side: int = 640) -> dict:
    """Detect and embed every face of ``photos`` with cv2.FaceDetectorYN and cv2.FaceRecognizerSF."""
    started = time.perf_counter()
    detector = cv2.FaceDetectorYN.create(str(packaged_model_file("yunet")), "", (320, 320), 0.6, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(str(packaged_model_file("sface")), "")
    faces = 0
    for path in photos:
        image = cv2.imread(str(path))
        if image is None:
            continue
        scale = min(1.0, max_side / max(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        detector.setInputSize((image.shape[1], image.shape[0]))
        _, found = detector.detect(image)
        for row in np.zeros((0, 15), np.float32) if found is None else found:
            recognizer.feature(recognizer.alignCrop(image, row))
            faces += 1
    seconds = time.perf_counter() - started
    return {"photos": len(photos), "faces": faces, "seconds": round(seconds, 2), "photos_per_s": len(photos) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--max-side", type=int, default=640)
    args = parser.parse_args()
    figures = run_loop(photos_in(args.input), args.max_side)
    print(json.dumps({**figures, "photos_per_s": round(figures["photos_per_s"], 2)}))


if __name__ == "__main__":
    main()
