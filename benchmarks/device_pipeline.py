"""Single-node throughput of the model stage on a device, fed by a pool of decode processes.

    python -m benchmarks.device_pipeline --lfw-dir DIR [--photos 3000] [--upscale 4] [--device cuda]
        [--batch 64] [--workers N]

Measures, on photos held in memory as JPEG bytes: decode alone (process pool), the model stage
alone (detect + align + embed on pre-decoded photos, with its split), and the two overlapped (the
pool decodes while the device works), plus GPU utilisation sampled by nvidia-smi. No Ray and no
table writes: this is the ceiling the Ray pipeline can reach per node. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import ModelsConfig
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.ingest.decode import decode_image, decode_jpegs_on_device
from pipeline.models.registry import resolve_models
from pipeline.runtime.resources import ResourceSampler


def _upscaled_jpeg(args: tuple[bytes, int]) -> bytes:
    data, factor = args
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _decode(data: bytes) -> np.ndarray:
    return decode_image(data, 100_000_000).pixels


def _decode_shape(data: bytes) -> tuple[int, ...]:
    return decode_image(data, 100_000_000).pixels.shape


def model_split(analyzer: AnalyzeFaces, images: list[np.ndarray], batch: int, device: str) -> dict:
    """Milliseconds per photo of detect + align and of embed over ``images`` (device synchronised)."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    totals = {"detect_align": 0.0, "embed": 0.0}
    for start in range(0, len(images), batch):
        sync()
        t0 = time.perf_counter()
        _, crops = analyzer.detect_and_crop(images[start : start + batch], {})
        sync()
        t1 = time.perf_counter()
        analyzer.embedder(crops)
        sync()
        totals["detect_align"] += t1 - t0
        totals["embed"] += time.perf_counter() - t1
    return {k: round(v / len(images) * 1000, 3) for k, v in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", required=True)
    parser.add_argument("--photos", type=int, default=3000)
    parser.add_argument("--upscale", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--engine", default="auto", choices=["auto", "opencv", "torch"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--gpu-decode", action="store_true", help="also measure nvJPEG decode feeding the model")
    args = parser.parse_args()
    paths = sorted((Path(args.lfw_dir) / "images").glob("*/*.jpg"))[: args.photos]
    payloads = [p.read_bytes() for p in paths]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        if args.upscale > 1:
            payloads = pool.map(_upscaled_jpeg, [(p, args.upscale) for p in payloads], chunksize=16)
        t = time.perf_counter()
        shapes = pool.map(_decode_shape, payloads, chunksize=16)
        decode_s = time.perf_counter() - t
        images = pool.map(_decode, payloads, chunksize=16)

        models = ModelsConfig(device=args.device, detector_engine=args.engine, embedder_engine=args.engine)
        analyzer = AnalyzeFaces(resolve_models(models), threads=1 if args.device == "cuda" else args.workers)
        for start in range(0, len(images), args.batch):  # warm-up: kernels for every batch shape, allocator
            analyzer.faces_of(images[start : start + args.batch])
        t = time.perf_counter()
        faces = sum(
            len(f) for s in range(0, len(images), args.batch) for f in analyzer.faces_of(images[s : s + args.batch])
        )
        model_s = time.perf_counter() - t
        split = model_split(analyzer, images, args.batch, args.device)

        chunks = [payloads[s : s + args.batch] for s in range(0, len(payloads), args.batch)]
        decoded: queue.Queue = queue.Queue(maxsize=4)

        def receive() -> None:  # a thread takes decoded batches off the pool while the device works
            for chunk in pool.imap(_decode_chunk, chunks):
                decoded.put(chunk)
            decoded.put(None)

        with ResourceSampler() as sampler:
            t = time.perf_counter()
            threading.Thread(target=receive, daemon=True).start()
            while (chunk := decoded.get()) is not None:
                analyzer.faces_of(chunk)
            overlapped_s = time.perf_counter() - t
    photos = len(images)
    gpu_decode = {}
    if args.gpu_decode:
        chunks = [payloads[s : s + args.batch] for s in range(0, len(payloads), args.batch)]
        for chunk in chunks[:2]:  # warm-up
            analyzer.faces_of(decode_jpegs_on_device(chunk, args.device))
        import torch

        torch.cuda.synchronize()
        t = time.perf_counter()
        for chunk in chunks:
            decode_jpegs_on_device(chunk, args.device)
        torch.cuda.synchronize()
        decode_only = time.perf_counter() - t
        t = time.perf_counter()
        for chunk in chunks:
            analyzer.faces_of(decode_jpegs_on_device(chunk, args.device))
        gpu_decode = {
            "gpu_decode_photos_per_s": round(photos / decode_only, 1),
            "gpu_decode_and_model_photos_per_s": round(photos / (time.perf_counter() - t), 1),
        }
    print(
        json.dumps(
            {
                "device": args.device,
                "engines": [type(analyzer.detector).__name__, type(analyzer.embedder).__name__],
                "photos": photos,
                "photo_size": "x".join(map(str, shapes[0][:2][::-1])),
                "faces": faces,
                "batch": args.batch,
                "decode_workers": args.workers,
                "decode_photos_per_s": round(photos / decode_s, 1),
                "model_stage_photos_per_s": round(photos / model_s, 1),
                "model_stage_faces_per_s": round(faces / model_s, 1),
                "model_split_ms_per_photo": split,
                "overlapped_photos_per_s": round(photos / overlapped_s, 1),
                **sampler.summary(),
                **gpu_decode,
            }
        )
    )


def _decode_chunk(chunk: list[bytes]) -> list[np.ndarray]:
    return [_decode(data) for data in chunk]


if __name__ == "__main__":
    main()
