"""What keeping each photo's keypoints (decode.keypoints, for dedup.edits) costs the embed job: `facepipe
bench` on the same photos with keypoints on and off, in turns, each its own command.

    python -m benchmarks.keypoint_cost --input DIR [--photos 2000] [--rounds 2] [--set KEY=VALUE]

Per setting: the best photos/s of its rounds (the embed job's own figure, Ray already started) and the
seconds of the "fingerprints" stage (where the keypoints are computed, beside the hashes); then the cost:
1 - (photos/s with keypoints) / (photos/s without). Rounds alternate (on, off, on, off, ...) so that a
machine's drift falls on both. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.reference_loop import photos_in
from benchmarks.throughput import timed_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=2000, help="the first N photos in name order (0: all)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each setting")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="facepipe overrides")
    args = parser.parse_args()
    photos = photos_in(args.input)
    photos = photos[: args.photos] if args.photos else photos
    runs: dict[str, list[dict]] = {"keypoints": [], "no_keypoints": []}
    with tempfile.TemporaryDirectory(prefix="facepipe-keypoint-cost-") as scratch:
        flat = Path(scratch) / "photos"
        flat.mkdir()
        for i, photo in enumerate(photos):
            shutil.copyfile(photo, flat / f"{i:08d}{photo.suffix.lower()}")
        facepipe = str(Path(sys.executable).with_name("facepipe"))
        overrides = [item for pair in args.set for item in ("--set", pair)]
        for _ in range(args.rounds):
            for name, on in (("keypoints", "true"), ("no_keypoints", "false")):
                command = [facepipe, "bench", "--input", str(flat), *overrides, "--set", f"decode.keypoints={on}"]
                _, out = timed_command(command)
                bench = json.loads(out)
                runs[name].append({"photos_per_s": bench["photos_per_s"], **bench["stage_seconds"]})
    figures: dict = {"photos": len(photos), "rounds": args.rounds, "runs": runs}
    for name, done in runs.items():
        best = max(done, key=lambda run: run["photos_per_s"])
        figures[name] = {"photos_per_s": best["photos_per_s"], "fingerprints_seconds": best.get("fingerprints")}
    with_them, without = figures["keypoints"]["photos_per_s"], figures["no_keypoints"]["photos_per_s"]
    figures["cost"] = round(1 - with_them / without, 4) if without else None
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
