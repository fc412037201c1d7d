"""Test photos made on the fly: real LFW faces and every kind of bad input the embed job must survive."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

# A folder tree for listing and reading: relative path -> content (not real images)
TREE_PHOTOS = {
    "A.JPG": b"upper-case jpg",
    "b.Jpeg": b"mixed-case jpeg, a little longer",
    "c.webp": b"webp",
    "x/y/z.png": b"deeply nested png " * 10,
}
TREE_OTHERS = {"notes.txt": b"not a photo", "d.jpg/inside.txt": b"a folder named like a photo", "x/readme.md": b"#"}

# name -> (expected status, expected error reason or None)
BAD_INPUTS = {
    "empty.jpg": ("error", "empty_file"),
    "truncated.jpg": ("error", "decode_failed"),
    "not_an_image.jpg": ("error", "not_an_image"),
    "bomb.png": ("error", "too_large"),
    "blank.png": ("no_face", None),
}
ODD_FORMATS = (
    "gray.jpg",
    "cmyk.jpg",
    "sixteen_bit.png",
    "alpha.png",
    "palette.png",
    "exif_rotated.jpg",
    "animated.gif",
    "animated.webp",
    "group.jpg",
    "UPPER.JPEG",
    "photo.bmp",
    "photo.tiff",
)


def lfw_face(lfw_images: Path, person: str = "Aaron_Eckhart", number: int = 1) -> Image.Image:
    """One LFW photo as a PIL RGB image."""
    return Image.open(lfw_images / person / f"{person}_{number:04d}.jpg").convert("RGB")


def write_bad_inputs(folder: Path, face: Image.Image) -> None:
    """Write the BAD_INPUTS files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    good = io.BytesIO()
    face.save(good, "JPEG", quality=90)
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    (folder / "not_an_image.jpg").write_text("this is a text file with a photo's name\n")
    Image.new("1", (12_000, 10_000)).save(folder / "bomb.png")  # 120 MP, a few kB on disk
    Image.new("RGB", (320, 240), (90, 140, 200)).save(folder / "blank.png")


def write_odd_formats(folder: Path, face: Image.Image, others: list[Image.Image]) -> None:
    """Write the ODD_FORMATS files (each holds at least one real face) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    face.convert("L").save(folder / "gray.jpg", quality=92)
    face.convert("CMYK").save(folder / "cmyk.jpg", quality=92)
    sixteen = (np.asarray(face.convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen_bit.png")
    rgba = face.convert("RGBA")
    rgba.putalpha(Image.new("L", face.size, 255))
    rgba.save(folder / "alpha.png")
    face.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(folder / "palette.png")
    tall = Image.new("RGB", (face.width, face.height + 60), (0, 0, 0))
    tall.paste(face, (0, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise to show it upright
    tall.rotate(90, expand=True).save(folder / "exif_rotated.jpg", exif=exif.tobytes(), quality=92)
    face.save(folder / "animated.gif", save_all=True, append_images=others[:2], duration=100, loop=0)
    face.save(folder / "animated.webp", save_all=True, append_images=others[:2], duration=100, quality=90)
    group = Image.new("RGB", (face.width * 3, face.height * 2))
    for i, member in enumerate([face, *others[:5]]):
        group.paste(member, ((i % 3) * face.width, (i // 3) * face.height))
    group.save(folder / "group.jpg", quality=92)
    face.save(folder / "UPPER.JPEG", quality=92)
    face.save(folder / "photo.bmp")
    face.save(folder / "photo.tiff")


def copy_lfw(lfw_images: Path, folder: Path, count: int, start: int = 0) -> list[Path]:
    """Copy ``count`` LFW photos (sorted by path, from ``start``) into person subfolders of ``folder``."""
    photos = sorted(lfw_images.glob("*/*.jpg"))[start : start + count]
    copied = []
    for photo in photos:
        target = folder / photo.parent.name / photo.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, target)
        copied.append(target)
    return copied
