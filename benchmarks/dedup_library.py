"""Build a photo library with known copies for the dedup benchmark: LFW, photos without faces, and
copies of a seeded sample of them in every kind, with the truth in truth.csv.

    python -m benchmarks.dedup_library --lfw ../shared/datasets/lfw --output FOLDER [--copies 300]
        [--seed 0] [--no-face 150] [--limit N]

FOLDER/photos/images/<person>/<file>: every LFW photo once (with --limit, at most N photos: whole
folders of people in a seeded order); FOLDER/photos/no_face/: photos without faces, as JPEGs at
quality 95: scikit-image's bundled photos that show no person, then crops of LFW backgrounds (a
textured top corner, away from the face, upscaled to 250x250, kept when facepipe's default detector
finds no face in it), one per person, up to --no-face in all; FOLDER/photos/copies/<kind>/: for
--copies LFW photos and every photo without faces, one copy of each kind of COPY_KINDS;
FOLDER/truth.csv, written last: uri,original,kind,person,faces with uris relative to FOLDER (what
pipeline.evaluate.dedup reads).

exif_rotated is a JPEG at quality 95 whose pixels are stored turned 90 degrees, with EXIF Orientation 6
so that viewers turn them upright: as a phone writes it. Its upright view equals the original up to
that re-encoding (an LFW photo is 250x250, not a whole number of JPEG blocks, so no lossless JPEG
rotation exists); it counts as full quality (pipeline.evaluate.dedup.LOSSLESS_KINDS) but its pixels
are not the original's.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from benchmarks.app_copies import APP_KINDS
from pipeline.config import load_config
from pipeline.metrics.dedup import ORIGINAL
from pipeline.models.registry import load_detector, resolve_models

log = logging.getLogger(__name__)

ORIENTATION_TAG = 0x0112
PINS_PHOTOS = 300  # pins photos in the library when it holds copies as apps make them
# scikit-image's bundled photos with no person in them (astronaut and camera show people; the
# synthetic and binary ones, and the right view of the stereo motorcycle, a near copy of the left, are left out)
SKIMAGE_PHOTOS = (
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "brick",
    "grass",
    "gravel",
    "moon",
    "hubble_deep_field",
    "retina",
    "clock",
    "page",
    "text",
    "immunohistochemistry",
    "cell",
    "microaneurysms",
    "stereo_motorcycle",
)
BACKGROUND_BOX = 64  # side of the LFW corner cropped, BACKGROUND_INSET pixels in from the edges
BACKGROUND_INSET = 12  # past most of the black wedges the deep funnel leaves in the corners
BACKGROUND_SIDE = 250
MIN_BACKGROUND_CONTRAST = 25.0  # luminance standard deviation: flatter corners are skipped


def _jpeg(image: Image.Image, quality: int, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **options)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _centre_crop(image: Image.Image, area: float) -> Image.Image:
    """The centred crop keeping ``area`` of the photo's area (the same share of each side)."""
    width, height = round(image.width * area**0.5), round(image.height * area**0.5)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def _exif_rotated(image: Image.Image) -> bytes:
    stored = image.transpose(Image.Transpose.ROTATE_90)  # turned a quarter anticlockwise, as a sideways phone stores it
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6  # viewers turn it a quarter clockwise: upright again
    return _jpeg(stored, 95, exif=exif.tobytes())


def _framed(image: Image.Image) -> bytes:
    frame = Image.new(image.mode, image.size, "white")
    inner = _scaled(image, 0.7)
    frame.paste(inner, ((image.width - inner.width) // 2, (image.height - inner.height) // 2))
    return _jpeg(frame, 90)


# kind -> (extension, the copy's bytes from the upright decoded original); byte_copy is the file itself
_MAKERS: dict[str, tuple[str, Callable[[Image.Image], bytes]]] = {
    "png": ("png", _png),
    "exif_rotated": ("jpg", _exif_rotated),
    "quality_50": ("jpg", lambda image: _jpeg(image, 50)),
    "half_size": ("jpg", lambda image: _jpeg(_scaled(image, 0.5), 90)),
    "size_40_q70": ("jpg", lambda image: _jpeg(_scaled(image, 0.4), 70)),
    "crop_90": ("jpg", lambda image: _jpeg(_centre_crop(image, 0.9), 90)),
    "crop_75": ("jpg", lambda image: _jpeg(_centre_crop(image, 0.75), 90)),
    "brighter": ("jpg", lambda image: _jpeg(ImageEnhance.Brightness(image).enhance(1.25), 90)),
    "greyscale": ("jpg", lambda image: _jpeg(image.convert("L"), 90)),
    "mirrored": ("jpg", lambda image: _jpeg(ImageOps.mirror(image), 90)),
    "framed": ("jpg", _framed),
}
COPY_KINDS = ("byte_copy", *_MAKERS)


def make_copy(data: bytes, extension: str, kind: str) -> tuple[bytes, str]:
    """A copy of kind ``kind`` (one of COPY_KINDS) of the photo file ``data`` (its extension
    ``extension``, no dot): the copy's bytes and extension."""
    if kind == "byte_copy":
        return data, extension
    made_as, maker = _MAKERS[kind]
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return maker(image if image.mode in ("RGB", "L") else image.convert("RGB")), made_as


def _skimage_photos() -> dict[str, Image.Image]:
    """SKIMAGE_PHOTOS by name, from the files scikit-image bundles (nothing is downloaded)."""
    from skimage import data

    photos = {}
    for name in SKIMAGE_PHOTOS:
        pixels = data.stereo_motorcycle()[0] if name == "stereo_motorcycle" else getattr(data, name)()
        photos[name] = Image.fromarray(pixels)
    return photos


def lfw_background(path: Path, has_face: Callable[[np.ndarray], bool]) -> Image.Image | None:
    """The top corner of an LFW photo with the most contrast (left or right, away from the central
    face), upscaled to 250x250; None when both are flat, show the black wedge of the funnelling or,
    upscaled, a face ``has_face`` finds (hair at the edge of a head is common; a second person's face
    is not)."""
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    inset, box = BACKGROUND_INSET, BACKGROUND_BOX
    contrasts = {}
    for left in (inset, grey.shape[1] - inset - box):
        corner = grey[inset : inset + box, left : left + box]
        if corner.std() >= MIN_BACKGROUND_CONTRAST and np.mean(corner <= 3) < 0.01:
            contrasts[left] = corner.std()
    if not contrasts:
        return None
    best = max(contrasts, key=contrasts.get)
    crop = (best, inset, best + box, inset + box)
    upscaled = Image.open(path).convert("RGB").crop(crop).resize((BACKGROUND_SIDE,) * 2, Image.Resampling.BICUBIC)
    return None if has_face(np.asarray(upscaled)) else upscaled


def _face_finder() -> Callable[[np.ndarray], bool]:
    """Whether facepipe's default detector (on the CPU) finds a face in an RGB photo."""
    detector = load_detector(resolve_models(load_config().models, "cpu"))
    return lambda rgb: len(detector([rgb])[0]) > 0


def _lfw_people(images: Path, limit: int | None, rng: random.Random) -> dict[str, list[Path]]:
    """LFW person -> photos; with ``limit``, whole folders of people in a seeded order while they fit."""
    people = {folder.name: sorted(folder.glob("*.jpg")) for folder in sorted(images.iterdir()) if folder.is_dir()}
    if limit is None:
        return people
    chosen, total = {}, 0
    for name in rng.sample(sorted(people), len(people)):
        if total + len(people[name]) <= limit:
            chosen[name], total = people[name], total + len(people[name])
    return dict(sorted(chosen.items()))


def build_library(
    lfw: Path,
    output: Path,
    copies: int = 300,
    seed: int = 0,
    no_face: int = 150,
    limit: int | None = None,
    app_copies: int = 0,
    app_no_face: int = 0,
    pins: Path | None = None,
) -> dict:
    """Write the library described in the module docstring at ``output`` (photos/ and truth.csv; an
    existing photos/ is replaced) from the LFW folder ``lfw`` (holding images/). With ``app_copies``,
    also copies as apps make them (benchmarks.app_copies): of each kind, ``app_copies`` photos with
    faces (half LFW, half pins photos from ``pins``, PINS_PHOTOS of which join the library as
    originals) and ``app_no_face`` photos without. Returns counts: photos, originals, copies, people,
    photos without faces."""
    rng = random.Random(seed)
    people = _lfw_people(lfw / "images", limit, rng)
    photos = output / "photos"
    (output / "truth.csv").unlink(missing_ok=True)  # a library is complete once its truth is written
    if photos.exists():
        shutil.rmtree(photos)
    rows: list[dict[str, str]] = []

    def add(relative: str, original: str, kind: str, person: str) -> None:
        rows.append({"uri": f"photos/{relative}", "original": f"photos/{original}", "kind": kind, "person": person})
        rows[-1]["faces"] = "yes" if person else "no"

    lfw_originals = []
    for person, files in people.items():
        (photos / "images" / person).mkdir(parents=True)
        for file in files:
            shutil.copyfile(file, photos / "images" / person / file.name)
            add(f"images/{person}/{file.name}", f"images/{person}/{file.name}", ORIGINAL, person)
            lfw_originals.append((f"images/{person}/{file.name}", person))
    log.info("copied %d LFW photos of %d people", len(lfw_originals), len(people))

    (photos / "no_face").mkdir(parents=True)
    no_face_originals = []
    for name, image in list(_skimage_photos().items())[:no_face]:
        (photos / "no_face" / f"{name}.jpg").write_bytes(_jpeg(image, 95))
        no_face_originals.append(f"no_face/{name}.jpg")
    has_face = _face_finder()
    for person in rng.sample(sorted(people), len(people)):
        if len(no_face_originals) >= no_face:
            break
        source = rng.choice(people[person])
        background = lfw_background(source, has_face)
        if background is not None:
            (photos / "no_face" / f"background_{source.stem}.jpg").write_bytes(_jpeg(background, 95))
            no_face_originals.append(f"no_face/background_{source.stem}.jpg")
    for relative in no_face_originals:
        add(relative, relative, ORIGINAL, "")
    log.info("wrote %d photos without faces", len(no_face_originals))

    sampled = rng.sample(lfw_originals, min(copies, len(lfw_originals)))
    for original, person in [*sampled, *((relative, "") for relative in no_face_originals)]:
        data, stem = (photos / original).read_bytes(), Path(original).stem
        for kind in COPY_KINDS:
            copy, extension = make_copy(data, Path(original).suffix.lstrip("."), kind)
            relative = f"copies/{kind}/{stem}_{kind}.{extension}"
            (photos / relative).parent.mkdir(parents=True, exist_ok=True)
            (photos / relative).write_bytes(copy)
            add(relative, original, kind, person)
    log.info("wrote %d copies of %d photos", len(rows) - len(lfw_originals) - len(no_face_originals), len(sampled))
    pins_originals = _add_pins(pins, photos, rng, add) if app_copies and pins else []
    if app_copies:
        _add_app_copies(photos, lfw_originals, pins_originals, no_face_originals, app_copies, app_no_face, seed, add)

    with open(output / "truth.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["uri", "original", "kind", "person", "faces"])
        writer.writeheader()
        writer.writerows(rows)
    return {
        "photos": len(rows),
        "originals": len(lfw_originals) + len(no_face_originals),
        "copies": len(rows) - len(lfw_originals) - len(no_face_originals),
        "people": len(people),
        "photos_without_faces": len(no_face_originals),
        "pins_photos": len(pins_originals),
        "lfw_photos_copied": len(sampled),
    }


def _add_pins(pins: Path, photos: Path, rng: random.Random, add: Callable) -> list[tuple[str, str]]:
    """PINS_PHOTOS pins photos (seeded) copied into photos/pins/<person>/ as originals."""
    every = sorted((folder.name, file) for folder in (pins / "images").iterdir() for file in sorted(folder.iterdir()))
    chosen = []
    for person, file in rng.sample(every, min(PINS_PHOTOS, len(every))):
        relative = f"pins/{person}/{file.name}"
        (photos / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, photos / relative)
        add(relative, relative, ORIGINAL, person)
        chosen.append((relative, person))
    return chosen


def _add_app_copies(
    photos: Path,
    lfw_originals: list[tuple[str, str]],
    pins_originals: list[tuple[str, str]],
    no_face_originals: list[str],
    with_faces: int,
    without_faces: int,
    seed: int,
    add: Callable,
) -> None:
    """Of each kind of benchmarks.app_copies, copies of ``with_faces`` photos with faces (half of them
    from pins when given) and ``without_faces`` photos without, each kind a seeded sample of its own."""
    rng = random.Random(seed + 1)
    for kind, maker in APP_KINDS.items():
        from_pins = min(len(pins_originals), with_faces // 2)
        chosen = rng.sample(pins_originals, from_pins) + rng.sample(lfw_originals, with_faces - from_pins)
        chosen += [
            (relative, "") for relative in rng.sample(no_face_originals, min(without_faces, len(no_face_originals)))
        ]
        for original, person in chosen:
            image = np.asarray(ImageOps.exif_transpose(Image.open(photos / original)).convert("RGB"))
            data, extension = maker(image, random.Random(f"{seed}/{kind}/{original}"))
            relative = f"apps/{kind}/{Path(original).stem}_{kind}.{extension}"
            (photos / relative).parent.mkdir(parents=True, exist_ok=True)
            (photos / relative).write_bytes(data)
            add(relative, original, kind, person)
    log.info("wrote copies as apps make them: %d of each of %d kinds", with_faces + without_faces, len(APP_KINDS))


def build_from_arguments(args: argparse.Namespace, folder: Path) -> dict:
    """build_library at ``folder`` with what add_arguments parsed into ``args``."""
    return build_library(
        args.lfw, folder, args.copies, args.seed, args.no_face, args.limit, args.app_copies, args.app_no_face, args.pins
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The library's options (shared with benchmarks.dedup_lfw)."""
    parser.add_argument("--lfw", type=Path, default=Path("../shared/datasets/lfw"), help="LFW folder holding images/")
    parser.add_argument("--copies", type=int, default=300, help="LFW photos copied in every kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-face", type=int, default=150, help="photos without faces (each copied in every kind)")
    parser.add_argument("--limit", type=int, help="at most this many LFW photos (whole person folders)")
    parser.add_argument(
        "--app-copies", type=int, default=0, help="photos with faces copied in every kind apps make (half from --pins)"
    )
    parser.add_argument("--app-no-face", type=int, default=0, help="photos without faces copied in every app kind")
    parser.add_argument("--pins", type=Path, help="pins folder holding images/ (app copies' second source)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, type=Path, help="folder for photos/ and truth.csv")
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress on stderr
    args.output.mkdir(parents=True, exist_ok=True)
    counts = build_from_arguments(args, args.output)
    log.info("library at %s: %s", args.output, counts)


if __name__ == "__main__":
    main()
