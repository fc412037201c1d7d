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
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline import schema as S
from pipeline.ingest.fingerprints import HASH_SIDE, photo_fingerprints
from pipeline.ingest.timing import add_seconds

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


REDUCED_SIDE_FLOOR = 0.75  # a reduced decode keeps a longest side >= this fraction of reduce_to

# EXIF orientation -> the numpy operation that makes the stored pixels upright (as PIL's exif_transpose)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}
_ROTATING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_LIBJPEG_TURBO_COLOURS = ("Gray", "YCbCr", "RGB")  # JPEG colour spaces simplejpeg turns into RGB


def _dct_factor(longest_side: int, reduce_to: int | None) -> int:
    """The largest libjpeg DCT downscale factor (1, 2, 4 or 8) that keeps the longest side at least
    REDUCED_SIDE_FLOOR * reduce_to; 1 without reduce_to."""
    if not reduce_to:
        return 1
    return max(f for f in (1, 2, 4, 8) if f == 1 or longest_side / f >= REDUCED_SIDE_FLOOR * reduce_to)


def _decode_jpeg(data: bytes, factor: int, orientation: int) -> np.ndarray | None:
    """An 8-bit JPEG decoded straight into RGB numpy by libjpeg-turbo (simplejpeg) at 1/factor
    scale, made upright; None for what it cannot decode (CMYK, 12-bit, damaged), which PIL then tries."""
    try:
        height, width, colour, _ = simplejpeg.decode_jpeg_header(data)
        if colour not in _LIBJPEG_TURBO_COLOURS:
            return None
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_height=-(-height // factor), min_width=-(-width // factor))
    except ValueError:
        return None
    return _UPRIGHT[orientation](pixels) if orientation in _UPRIGHT else pixels


def decode_image(data: bytes, max_pixels: int, reduce_to: int | None = None) -> Decoded | DecodeError:
    """The (first frame of the) photo, upright, or a DecodeError.

    With ``reduce_to``, a JPEG is decoded at the smallest libjpeg DCT scale (1/2, 1/4, 1/8) whose
    longest side stays >= 3/4 of reduce_to (the detector then sees at most 25% fewer pixels per side
    than it could). JPEGs decode through libjpeg-turbo into numpy directly (PIL's conversion to an
    array costs several times the decode for megapixel photos); other formats through PIL.
    """
    if not data:
        return DecodeError(S.EMPTY_FILE, "the file has zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                return DecodeError(S.TOO_LARGE, f"{width}x{height} exceeds decode.max_pixels={max_pixels}")
            orientation = image.getexif().get(0x0112, 1)
            if orientation in _ROTATING_ORIENTATIONS:
                width, height = height, width
            factor = _dct_factor(max(width, height), reduce_to) if image.format == "JPEG" else 1
            pixels = _decode_jpeg(data, factor, orientation) if image.format == "JPEG" else None
            if pixels is None:
                if factor > 1:
                    image.draft("RGB", (max(1, image.size[0] // factor), max(1, image.size[1] // factor)))
                image.seek(0)
                image.load()
                pixels = _to_rgb(ImageOps.exif_transpose(image))
    except UnidentifiedImageError as exc:
        return DecodeError(S.NOT_AN_IMAGE, str(exc))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return DecodeError(S.DECODE_FAILED, f"{type(exc).__name__}: {exc}")
    except MemoryError:
        return DecodeError(S.TOO_LARGE, "not enough memory to decode")
    return Decoded(np.ascontiguousarray(pixels), width, height)


def jpeg_for_device(data: bytes, max_pixels: int, min_pixels: int) -> tuple[int, int] | None:
    """The upright (width, height) of a JPEG that nvJPEG can decode (8-bit Gray, YCbCr or RGB) with
    at least ``min_pixels`` and at most ``max_pixels`` pixels; None for anything else, which the CPU
    decodes. Reads the headers only."""
    try:
        height, width, colour, _ = simplejpeg.decode_jpeg_header(data)
        if colour not in _LIBJPEG_TURBO_COLOURS or not min_pixels <= width * height <= max_pixels:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    except (ValueError, OSError, SyntaxError, UnidentifiedImageError):
        return None
    return (height, width) if orientation in _ROTATING_ORIENTATIONS else (width, height)


def is_for_device(pixels_width: int | None) -> bool:
    """Whether a decoded row (its PIXELS_WIDTH) is a JPEG left for the GPU to decode: 0 x 0 pixels."""
    return pixels_width == 0


def _fingerprints_of(photos: list[tuple[bytes, Decoded | None]], max_pixels: int, keypoints: bool) -> list[dict | None]:
    """The dedup fingerprints of decoded photos, all together; a JPEG left for the GPU (``Decoded`` None)
    is decoded here at the smallest DCT scale the perceptual hashes allow (None if that fails)."""
    decoded = [
        pixels if pixels is not None else decode_image(data, max_pixels, 2 * HASH_SIDE) for data, pixels in photos
    ]
    fingerprinted = [(data, pixels) for (data, _), pixels in zip(photos, decoded) if isinstance(pixels, Decoded)]
    computed = iter(
        photo_fingerprints(
            [(data, d.pixels, max(1, round(d.width / d.pixels.shape[1]))) for data, d in fingerprinted], keypoints
        )
    )
    return [next(computed) if isinstance(pixels, Decoded) else None for pixels in decoded]


def decode_photos(
    batch: pa.Table,
    max_pixels: int,
    reduce_to: int | None = None,
    device_min_pixels: int | None = None,
    fingerprints: bool = True,
    keypoints: bool = True,
) -> pa.Table:
    """Stage: read rows (uri, image_id, error, bytes) in, decoded rows (DECODED_SCHEMA) out.

    Rows whose pixels were decoded at a reduced scale keep their bytes, for faces that need the
    full resolution; the others drop them. With ``device_min_pixels`` (GPU model actors), JPEGs of
    at least that many pixels are not decoded here: their rows carry the file's bytes and 0 x 0
    pixels, and the model actor decodes them on the GPU (nvJPEG). With ``fingerprints`` every decodable
    photo's dedup fingerprints (FINGERPRINTS_COLUMN) are computed (timed as the "fingerprints" stage), its
    keypoints only with ``keypoints``.
    """
    started = time.perf_counter()
    waiting: list[tuple[int, bytes, Decoded | None]] = []  # (row, bytes, pixels) whose fingerprints are computed last
    rows: dict[str, list] = {name: [] for name in S.DECODED_SCHEMA.names if name != S.SECONDS}
    for uri, image_id, error, data in zip(
        *(batch.column(name).to_pylist() for name in (S.URI, S.IMAGE_ID, S.ERROR, S.BYTES))
    ):
        size = jpeg_for_device(data, max_pixels, device_min_pixels) if error is None and device_min_pixels else None
        if size is not None:
            for name, value in (
                (S.URI, uri),
                (S.IMAGE_ID, image_id),
                (S.STATUS, S.STATUS_OK),
                (S.ERROR, None),
                (S.WIDTH, size[0]),
                (S.HEIGHT, size[1]),
                (S.PIXELS_WIDTH, 0),
                (S.PIXELS_HEIGHT, 0),
                (S.PIXELS, b""),
                (S.BYTES, data),
            ):
                rows[name].append(value)
            rows[S.FINGERPRINTS_COLUMN].append(None)
            if fingerprints:
                waiting.append((len(rows[S.URI]) - 1, data, None))
            continue
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
        rows[S.FINGERPRINTS_COLUMN].append(None)
        if fingerprints and ok:
            waiting.append((len(rows[S.URI]) - 1, data, decoded))
    decoded_at = time.perf_counter()
    for (row, _, _), found in zip(
        waiting, _fingerprints_of([(data, pixels) for _, data, pixels in waiting], max_pixels, keypoints)
    ):
        rows[S.FINGERPRINTS_COLUMN][row] = found
    spent = {"decode": decoded_at - started, "fingerprints": time.perf_counter() - decoded_at}
    rows[S.SECONDS] = add_seconds(batch.column(S.SECONDS), spent)
    return pa.table(rows, schema=S.DECODED_SCHEMA)


def pixels_of(row_bytes: bytes, width: int, height: int) -> np.ndarray:
    """The HxWx3 uint8 RGB array a decoded row carries (PIXELS_WIDTH x PIXELS_HEIGHT)."""
    return np.frombuffer(row_bytes, np.uint8).reshape(height, width, 3)


def decode_jpegs_on_device(payloads: list[bytes], device: str) -> list:
    """JPEG files decoded by the GPU (nvJPEG through torchvision), EXIF orientation applied: a list of
    (3, H, W) uint8 RGB tensors on ``device``. Needs a torchvision that imports beside torch (GPU
    machines); raises ImportError otherwise, RuntimeError for a file nvJPEG cannot decode."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in payloads]
    return decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device, apply_exif_orientation=True)


def pixels_or_error(data: bytes, max_pixels: int) -> np.ndarray | DecodeError:
    """A file decoded on the CPU at full resolution: its HxWx3 pixels, or why it failed."""
    image = decode_image(data, max_pixels)
    return image.pixels if isinstance(image, Decoded) else image


def decode_on_device_or_cpu(payloads: list[bytes], device: str, max_pixels: int) -> list:
    """Each JPEG decoded on the GPU, in one nvJPEG batch; where the batch fails, one at a time, and a
    file the GPU refuses decodes on the CPU instead (an HxWx3 array, or a DecodeError)."""
    try:
        return decode_jpegs_on_device(payloads, device)
    except RuntimeError:
        decoded: list = []
        for data in payloads:
            try:
                decoded.extend(decode_jpegs_on_device([data], device))
            except RuntimeError:
                decoded.append(pixels_or_error(data, max_pixels))
        return decoded
