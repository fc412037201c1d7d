"""Decode photo bytes into upright 8-bit RGB pixels, or into a machine-readable error.

Handles EXIF orientation, grayscale, CMYK, 16-bit, alpha, palette and animated files (first frame),
and refuses images above a pixel limit before decoding them (decompression bombs).
"""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline import schema as S
from pipeline.timing import add_seconds

Image.MAX_IMAGE_PIXELS = None  # our own, configurable limit applies (DecodeError "too_large")


@dataclass(frozen=True)
class DecodeError:
    """Why a photo could not be decoded: a short machine-readable reason and a message."""

    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image).astype(np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(values * (255.0 / peak), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "F":
        values = np.asarray(image)
        gray = np.clip(values * (255.0 if values.max() <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class Decoded:
    """Upright HxWx3 uint8 RGB pixels, and the photo's full upright size (larger than the pixels
    when a JPEG was decoded at a reduced scale)."""

    pixels: np.ndarray
    width: int
    height: int


_ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def decode_image(data: bytes, max_pixels: int, reduce_to: int | None = None) -> Decoded | DecodeError:
    """The (first frame of the) photo, upright, or a DecodeError.

    With ``reduce_to``, a JPEG is decoded at the smallest libjpeg DCT scale (1/2, 1/4, 1/8) whose
    longest side stays >= reduce_to: several times faster for photos much larger than that.
    """
    if not data:
        return DecodeError("empty_file", "the file has zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                return DecodeError("too_large", f"{width}x{height} exceeds decode.max_pixels={max_pixels}")
            if image.getexif().get(0x0112, 1) in _ROTATING_ORIENTATIONS:
                width, height = height, width
            if reduce_to and image.format == "JPEG" and max(width, height) > reduce_to:
                ratio = reduce_to / max(width, height)
                image.draft("RGB", (max(1, int(image.size[0] * ratio)), max(1, int(image.size[1] * ratio))))
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image)
            pixels = _to_rgb(image)
    except UnidentifiedImageError as exc:
        return DecodeError("not_an_image", str(exc))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return DecodeError("decode_failed", f"{type(exc).__name__}: {exc}")
    except MemoryError:
        return DecodeError("too_large", "not enough memory to decode")
    return Decoded(np.ascontiguousarray(pixels), width, height)


def decode_photos(batch: pa.Table, max_pixels: int, reduce_to: int | None = None) -> pa.Table:
    """Stage: read rows (uri, image_id, error, bytes) in, decoded rows (DECODED_SCHEMA) out.

    Rows whose pixels were decoded at a reduced scale keep their bytes, for faces that need the
    full resolution; the others drop them.
    """
    started = time.perf_counter()
    rows: dict[str, list] = {name: [] for name in S.DECODED_SCHEMA.names if name != S.SECONDS}
    for uri, image_id, error, data in zip(
        *(batch.column(name).to_pylist() for name in (S.URI, S.IMAGE_ID, S.ERROR, S.BYTES))
    ):
        decoded = decode_image(data, max_pixels, reduce_to) if error is None else None
        ok = isinstance(decoded, Decoded)
        reduced = ok and decoded.pixels.shape[1] != decoded.width
        rows[S.URI].append(uri)
        rows[S.IMAGE_ID].append(image_id)
        rows[S.STATUS].append(S.STATUS_OK if ok else S.STATUS_ERROR)
        rows[S.ERROR].append(None if ok else (error or str(decoded)))
        rows[S.WIDTH].append(decoded.width if ok else None)
        rows[S.HEIGHT].append(decoded.height if ok else None)
        rows[S.PIXELS_WIDTH].append(decoded.pixels.shape[1] if ok else None)
        rows[S.PIXELS_HEIGHT].append(decoded.pixels.shape[0] if ok else None)
        rows[S.PIXELS].append(decoded.pixels.tobytes() if ok else b"")
        rows[S.BYTES].append(data if reduced else b"")
    rows[S.SECONDS] = add_seconds(batch.column(S.SECONDS), {"decode": time.perf_counter() - started})
    return pa.table(rows, schema=S.DECODED_SCHEMA)


def pixels_of(row_bytes: bytes, width: int, height: int) -> np.ndarray:
    """The HxWx3 uint8 RGB array a decoded row carries (PIXELS_WIDTH x PIXELS_HEIGHT)."""
    return np.frombuffer(row_bytes, np.uint8).reshape(height, width, 3)


def decode_jpegs_on_device(payloads: list[bytes], device: str) -> list:
    """JPEG files decoded by the GPU (nvJPEG through torchvision), EXIF orientation applied: a list of
    (3, H, W) uint8 RGB tensors on ``device``. Needs a torchvision that imports beside torch (GPU
    machines); raises ImportError otherwise."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in payloads]
    return decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True)
