"""Write enlarged JPEG copies of photos, to benchmark megapixel inputs.

python -m benchmarks.make_photos --input DIR --output DIR [--upscale 4] [--limit 400]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--limit", type=int, default=400)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    photos = sorted(args.input.rglob("*.jpg"))
    for i, photo in enumerate(photos[:: max(1, len(photos) // args.limit)][: args.limit]):
        image = cv2.imread(str(photo))
        big = cv2.resize(image, None, fx=args.upscale, fy=args.upscale, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(args.output / f"{i:06d}.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])


if __name__ == "__main__":
    main()
