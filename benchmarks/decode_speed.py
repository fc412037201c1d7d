"""Decode time per photo, full resolution against the reduced JPEG scale the detector allows, one core.

    python -m benchmarks.decode_speed --input DIR [--photos 60] [--sides 1000 2000 4000] [--detect-side 640]

Photos from DIR are enlarged to each side (bicubic, JPEG quality 92) in memory first; prints one JSON
object with milliseconds per photo, full and reduced, and the speed-up, per side.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2

from pipeline.ingest.decode import decode_image


def _best_ms(payloads: list[bytes], reduce_to: int | None, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for data in payloads:
            decode_image(data, 10**9, reduce_to)
        best = min(best, (time.perf_counter() - started) / len(payloads))
    return round(best * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--sides", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--detect-side", type=int, default=640)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sources = [cv2.imread(str(p)) for p in sorted(args.input.rglob("*.jpg"))[: args.photos]]
    figures = {}
    for side in args.sides:
        payloads = [
            cv2.imencode(
                ".jpg", cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 92]
            )[1].tobytes()
            for image in sources
        ]
        full, reduced = _best_ms(payloads, None), _best_ms(payloads, args.detect_side)
        shape = decode_image(payloads[0], 10**9, args.detect_side).pixels.shape
        figures[f"{side}x{side}"] = {
            "full_ms": full,
            "reduced_ms": reduced,
            "speedup": round(full / reduced, 2),
            "reduced_pixels": f"{shape[1]}x{shape[0]}",
            "megapixels": round(side * side / 1e6, 1),
        }
    print(
        json.dumps(
            {
                "photos": len(sources),
                "detect_side": args.detect_side,
                "sides": figures,
                "decoder": "libjpeg-turbo via simplejpeg (PIL for non-JPEG and CMYK)",
            }
        )
    )


if __name__ == "__main__":
    main()
