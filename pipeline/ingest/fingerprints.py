"""What deduplication needs to know of a photo, computed while the decode stage holds it: hashes of
its bytes and pixels, PDQ perceptual hashes of it and of its likely edits, its local features (ORB
keypoints), capture time and camera from EXIF, and the traits that rank copies (format, JPEG quality,
colour, frame, metadata)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import warnings

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from pipeline import schema as S
from pipeline.ingest.keypoints import photo_keypoints
from pipeline.ingest.pdq import DIHEDRAL, coefficients, hash_bytes

HASH_SIDE = 128  # PDQ works on a 64x64 luminance image: hashing a 128-px copy costs 1/10 and agrees
FRAME_TOLERANCE = 12  # a frame's pixels stay within this of its corner's colour (JPEG ringing)
GREY_TOLERANCE = 3.0  # mean |R-G| + |G-B| below this: no colour (a greyscale photo saved as RGB JPEG)

_DIHEDRAL = ("mirrored", "rotated_90", "rotated_180", "rotated_270")  # from the photo's own coefficients
_CROPS = {"crop_90": 0.9, "crop_75": 0.75}  # centred crops keeping this share of the area

# EXIF tags: IFD0 make / model, the Exif IFD and its capture time, sub-second and UTC offset
_MAKE, _MODEL, _EXIF_IFD, _ORIENTATION = 0x010F, 0x0110, 0x8769, 0x0112
_DATE_TIME_ORIGINAL, _SUBSEC_ORIGINAL, _OFFSET_ORIGINAL = 0x9003, 0x9291, 0x9011

# IJG's luminance quantisation table at quality 50 (natural order): the scale every libjpeg quality applies
_IJG_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.float64,
).ravel()
_QUALITIES = np.arange(1, 101)
_IJG_TABLES = np.clip(
    np.floor(
        (_IJG_LUMINANCE[None, :] * np.where(_QUALITIES < 50, 5000 / _QUALITIES, 200 - 2 * _QUALITIES)[:, None] + 50)
        / 100
    ),
    1,
    255,
)


def _unframed(pixels: np.ndarray) -> np.ndarray | None:
    """The photo inside a uniform frame (the colour of its top-left corner); None without one."""
    corner = pixels[0, 0].astype(np.int16)
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).astype(np.int16)
    if np.abs(edges - corner).max() > FRAME_TOLERANCE:  # most photos: no uniform edge all round
        return None
    inside = np.abs(pixels.astype(np.int16) - corner).max(axis=2) > FRAME_TOLERANCE
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if not len(rows):
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (bottom - top) * (right - left) >= 0.97 * inside.size:
        return None
    return pixels[top:bottom, left:right]


def centre_crop(pixels: np.ndarray, area: float) -> np.ndarray:
    """The centred crop keeping ``area`` of the photo's area (the same share of each side)."""
    height, width = pixels.shape[:2]
    side = area**0.5
    crop_h, crop_w = max(1, int(height * side)), max(1, int(width * side))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return pixels[top : top + crop_h, left : left + crop_w]


def _small(pixels: np.ndarray) -> np.ndarray:
    """The photo shrunk by the whole factor that brings its longest side to about HASH_SIDE (a whole
    factor: OpenCV's area average is several times faster than at a fractional one)."""
    height, width = pixels.shape[:2]
    factor = -(-max(height, width) // HASH_SIDE)
    if factor <= 1:
        return pixels
    size = (max(1, width // factor), max(1, height // factor))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def perceptual_hashes(
    smalls: list[np.ndarray], inners: list[np.ndarray | None]
) -> list[tuple[bytes, int, list[bytes]]]:
    """PDQ of upright HxWx3 RGB photos (``smalls``: shrunk to about HASH_SIDE; ``inners``: each one's
    part inside its uniform frame, None without one), all in one go (a few array operations for the
    lot, which run beside other threads' work): for each, the hash (32 bytes), PDQ's quality (0-100)
    and the hashes of the photo transformed as S.PDQ_VARIANT_NAMES says (b"" for "unframed" when it
    has no frame)."""
    if not smalls:
        return []
    images, firsts, edits = [], [], []  # every image hashed; each photo's own row among them; its edits
    for small, inner in zip(smalls, inners):
        edited = {name: centre_crop(small, area) for name, area in _CROPS.items()}
        if inner is not None:
            edited["unframed"] = inner
        firsts.append(len(images))
        images += [small, *edited.values()]
        edits.append(list(edited))
    found, quality = coefficients(images)
    blocks = []
    for first, edited in zip(firsts, edits):
        blocks += [found[first], *(DIHEDRAL[name](found[first]) for name in _DIHEDRAL)]
        blocks += list(found[first + 1 : first + 1 + len(edited)])
    packed = iter(hash_bytes(np.stack(blocks)))
    hashed = []
    for first, edited in zip(firsts, edits):
        hashes = {name: next(packed).tobytes() for name in ["as_is", *_DIHEDRAL, *edited]}
        hashed.append((hashes["as_is"], int(quality[first]), [hashes.get(name, b"") for name in S.PDQ_VARIANT_NAMES]))
    return hashed


def jpeg_quality(quantization: dict | None) -> int | None:
    """The libjpeg quality (1-100) whose luminance table is nearest the file's; None without tables."""
    if not quantization or 0 not in quantization:
        return None
    table = np.asarray(quantization[0], np.float64)
    if table.size != 64:
        return None
    return int(_QUALITIES[np.argmin(np.abs(_IJG_TABLES - table[None, :]).sum(axis=1))])


def _captured_at(exif_ifd: dict) -> dt.datetime | None:
    """DateTimeOriginal with its sub-seconds, in UTC when the offset is recorded (else read as UTC)."""
    stamp = exif_ifd.get(_DATE_TIME_ORIGINAL)
    if not isinstance(stamp, str):
        return None
    try:
        when = dt.datetime.strptime(stamp.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    subsec = str(exif_ifd.get(_SUBSEC_ORIGINAL, "")).strip("\x00 ")
    if subsec.isdigit():
        when += dt.timedelta(seconds=float(f"0.{subsec}"))
    offset = str(exif_ifd.get(_OFFSET_ORIGINAL, "")).strip("\x00 ")
    try:
        zone = dt.datetime.strptime(offset, "%z").tzinfo if offset else dt.timezone.utc
    except ValueError:
        zone = dt.timezone.utc
    return when.replace(tzinfo=zone).astimezone(dt.timezone.utc)


def _metadata(data: bytes) -> dict:
    """Format, JPEG quality, capture time, camera and the number of EXIF tags (orientation and the
    Exif IFD's pointer aside: rotating a copy adds them); headers only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = Image.open(io.BytesIO(data))
        exif = image.getexif()
        exif_ifd = dict(exif.get_ifd(_EXIF_IFD))
        quantization = getattr(image, "quantization", None) if image.format == "JPEG" else None
    camera = " ".join(str(exif.get(tag, "")).strip("\x00 ") for tag in (_MAKE, _MODEL)).strip()
    return {
        S.FORMAT: image.format,
        S.JPEG_QUALITY: jpeg_quality(quantization),
        S.CAPTURED_AT: _captured_at(exif_ifd),
        S.CAMERA: camera or None,
        S.EXIF_FIELDS: sum(tag not in (_EXIF_IFD, _ORIENTATION) for tag in exif) + len(exif_ifd),
    }


def is_greyscale(pixels: np.ndarray) -> bool:
    """Whether RGB ``pixels`` carry no colour (channels equal up to JPEG's chroma noise)."""
    channels = pixels.astype(np.int16)
    spread = np.abs(channels[..., 0] - channels[..., 1]) + np.abs(channels[..., 1] - channels[..., 2])
    return bool(spread.mean() < GREY_TOLERANCE)


def photo_fingerprints(photos: list[tuple[bytes, np.ndarray, int]], keypoints: bool = True) -> list[dict]:
    """The S.FINGERPRINTS of photos, each given as its file's bytes, its upright RGB pixels and the scale
    they were decoded at (1/scale: the pixel hash names the scale, so it matches only pixels decoded
    alike); S.KEYPOINTS null without ``keypoints``. A batch at a time: the perceptual hashes of all of
    them are computed together."""
    smalls = [_small(pixels) for _, pixels, _ in photos]
    inners = [_unframed(small) for small in smalls]
    found = []
    for (data, pixels, scale), small, inner, (hashed, quality, variants) in zip(
        photos, smalls, inners, perceptual_hashes(smalls, inners)
    ):
        pixel_hash = hashlib.sha256(f"{pixels.shape} 1/{scale}".encode())
        pixel_hash.update(np.ascontiguousarray(pixels).data)
        content = inner.shape[0] * inner.shape[1] / (small.shape[0] * small.shape[1]) if inner is not None else 1.0
        found.append(
            {
                S.SHA256: hashlib.sha256(data).hexdigest(),
                S.PIXEL_SHA256: pixel_hash.hexdigest(),
                S.PDQ: hashed,
                S.PDQ_QUALITY: quality,
                S.PDQ_VARIANTS: variants,
                S.GREYSCALE: is_greyscale(small if inner is None else inner),  # a white frame has no colour
                S.CONTENT_FRACTION: float(content),
                S.KEYPOINTS: photo_keypoints(pixels) if keypoints else None,
                **_metadata(data),
            }
        )
    return found


def fingerprints_only(batch: pa.Table) -> pa.Table:
    """Stage: decoded rows in, (URI, IMAGE_ID, FINGERPRINTS_COLUMN) out: what adding fingerprints to committed
    photos needs, without their pixels."""
    return batch.select([S.URI, S.IMAGE_ID, S.FINGERPRINTS_COLUMN])


def without_faces(batch: pa.Table, dim: int) -> pa.Table:
    """Stage: decoded rows in, outcome rows (analyzed_schema) out with no face computed: the photos of a library
    whose owner opted out of faces (status faces_off when decodable, else the decode's error)."""
    decodable = pc.not_equal(batch[S.STATUS], S.STATUS_ERROR)
    status = pc.if_else(decodable, pa.scalar(S.STATUS_FACES_OFF), batch[S.STATUS])
    none = pa.array([[]] * batch.num_rows, pa.list_(S.face_struct_type(dim)))
    columns = {name: batch[name] for name in (S.URI, S.IMAGE_ID, S.ERROR, S.WIDTH, S.HEIGHT)}
    rows = {**columns, S.STATUS: status, S.FACES: none, S.FINGERPRINTS_COLUMN: batch[S.FINGERPRINTS_COLUMN]}
    schema = S.analyzed_schema(dim)
    return pa.table({**rows, S.SECONDS: batch[S.SECONDS]}).select(schema.names).cast(schema)
