"""Tests for decoding photo bytes: odd modes and formats, EXIF orientation, animation, bad input."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageOps

from pipeline import schema as S
from pipeline.ingest.decode import Decoded, DecodeError, decode_image, decode_photos, is_for_device, pixels_of
from pipeline.ingest.fingerprints import HASH_SIDE, photo_fingerprints
from pipeline.ingest.timing import zero_seconds

LIMIT = 100_000_000
W, H = 48, 32  # stored width x height of most test images
COLOUR = (200, 40, 90)


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _decoded(data: bytes, max_pixels: int = LIMIT) -> np.ndarray:
    decoded = decode_image(data, max_pixels)
    assert isinstance(decoded, Decoded), f"expected pixels, got {decoded}"
    pixels = decoded.pixels
    assert (decoded.width, decoded.height) == (pixels.shape[1], pixels.shape[0])
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    return pixels


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_rgb_jpeg_decodes_to_height_by_width_rgb() -> None:
    pixels = _decoded(_encode(Image.new("RGB", (W, H), COLOUR), "JPEG", quality=95))

    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels[H // 2, W // 2].astype(int) - COLOUR).max() <= 6


def test_grayscale_jpeg_becomes_three_equal_channels() -> None:
    pixels = _decoded(_encode(Image.new("L", (W, H), 120), "JPEG", quality=95))

    assert pixels.shape == (H, W, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert abs(int(pixels[H // 2, W // 2, 0]) - 120) <= 3


def test_cmyk_jpeg_keeps_its_colour() -> None:
    data = _encode(Image.new("RGB", (W, H), COLOUR).convert("CMYK"), "JPEG", quality=95)

    pixels = _decoded(data)

    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels[H // 2, W // 2].astype(int) - COLOUR).max() <= 8  # not inverted


def test_palette_png_keeps_its_colours() -> None:
    image = Image.new("P", (W, H), 0)
    image.putpalette([*COLOUR, 10, 220, 30] + [0] * (256 - 2) * 3)
    image.paste(1, (0, 0, W // 2, H))

    pixels = _decoded(_encode(image, "PNG"))

    assert pixels.shape == (H, W, 3)
    assert tuple(pixels[0, 0]) == (10, 220, 30)
    assert tuple(pixels[0, W - 1]) == COLOUR


def test_palette_png_with_transparency_becomes_white() -> None:
    image = Image.new("P", (W, H), 0)
    image.putpalette([*COLOUR, 0, 0, 0] + [0] * (256 - 2) * 3)
    image.paste(1, (0, 0, 4, 4))
    image.info["transparency"] = 1

    pixels = _decoded(_encode(image, "PNG", transparency=1))

    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[H - 1, W - 1]) == COLOUR


def test_rgba_png_transparent_pixels_come_out_white() -> None:
    image = Image.new("RGBA", (W, H), (*COLOUR, 255))
    image.paste((0, 0, 0, 0), (0, 0, 4, 4))  # fully transparent black corner
    image.putpixel((W - 1, H - 1), (0, 0, 0, 128))  # half-transparent black

    pixels = _decoded(_encode(image, "PNG"))

    assert pixels.shape == (H, W, 3)
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[H // 2, W // 2]) == COLOUR
    assert np.abs(pixels[H - 1, W - 1].astype(int) - 127).max() <= 1  # blended over white


def test_la_png_transparent_pixels_come_out_white() -> None:
    image = Image.new("LA", (W, H), (60, 255))
    image.paste((0, 0), (0, 0, 4, 4))

    pixels = _decoded(_encode(image, "PNG"))

    assert pixels.shape == (H, W, 3)
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[H // 2, W // 2]) == (60, 60, 60)


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    values = np.arange(H * W, dtype=np.int64).reshape(H, W) % 256
    image = Image.fromarray((values * 257).astype(np.uint16))

    pixels = _decoded(_encode(image, "PNG"))

    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels.astype(int) - values[:, :, None]).max() <= 1


def test_bilevel_image_decodes_to_black_and_white() -> None:
    image = Image.new("1", (W, H), 0)
    image.paste(1, (0, 0, W // 2, H))

    pixels = _decoded(_encode(image, "PNG"))

    assert pixels.shape == (H, W, 3)
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, W - 1]) == (0, 0, 0)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_bmp_and_tiff_decode_losslessly(fmt: str) -> None:
    image = _noise(W, H)

    pixels = _decoded(_encode(image, fmt))

    assert pixels.shape == (H, W, 3)
    assert np.array_equal(pixels, np.asarray(image))


# Orientation 6: a viewer turns the stored image 90 degrees clockwise, so the stored top-left
# corner ends at the top right. Orientation 8: counter-clockwise, so it ends at the bottom left.
@pytest.mark.parametrize(("orientation", "corner"), [(6, "top_right"), (8, "bottom_left"), (1, "top_left")])
def test_exif_orientation_gives_upright_pixels(orientation: int, corner: str) -> None:
    width, height, block = 64, 32, 8
    stored = Image.new("RGB", (width, height), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, block, block))
    exif = Image.Exif()
    exif[0x0112] = orientation

    pixels = _decoded(_encode(stored, "JPEG", quality=95, exif=exif.tobytes()))

    upright_h, upright_w = (height, width) if orientation == 1 else (width, height)
    assert pixels.shape == (upright_h, upright_w, 3)
    centre = {
        "top_left": (block // 2, block // 2),
        "top_right": (block // 2, upright_w - 1 - block // 2),
        "bottom_left": (upright_h - 1 - block // 2, block // 2),
    }
    for name, (y, x) in centre.items():
        red = pixels[y, x, 0] > 200 and pixels[y, x, 2] < 60
        assert red == (name == corner), f"{name} corner red={red} for orientation {orientation}"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pils_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(_noise(40, 24, seed=orientation), "JPEG", quality=95, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(_decoded(data), expected)


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_jpegs_decode_to_the_same_pixels_as_pil(mode: str) -> None:
    """RGB and grey JPEGs go through libjpeg-turbo directly, CMYK falls back to PIL: same pixels."""
    data = _encode(_noise(300, 200, seed=7).convert(mode), "JPEG", quality=90)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(_decoded(data), expected)


FRAMES = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


@pytest.mark.parametrize(("fmt", "params"), [("GIF", {}), ("WEBP", {"lossless": True})])
def test_animated_image_gives_its_first_frame(fmt: str, params: dict) -> None:
    frames = [Image.new("RGB", (W, H), colour) for colour in FRAMES]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params)
    assert Image.open(io.BytesIO(data)).n_frames == len(FRAMES)  # the file really is animated

    pixels = _decoded(data)

    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels.reshape(-1, 3).astype(int) - FRAMES[0]).max() <= 2


def test_empty_file_is_reported_as_empty() -> None:
    result = decode_image(b"", LIMIT)

    assert isinstance(result, DecodeError)
    assert result.reason == "empty_file"
    assert str(result).startswith("empty_file:")


def test_text_file_is_not_an_image() -> None:
    result = decode_image(b"this is a text file with a photo's name\n", LIMIT)

    assert isinstance(result, DecodeError)
    assert result.reason == "not_an_image"


def test_truncated_jpeg_fails_to_decode() -> None:
    data = _encode(_noise(256, 256), "JPEG", quality=90)

    result = decode_image(data[: len(data) // 2], LIMIT)

    assert isinstance(result, DecodeError)
    assert result.reason == "decode_failed"


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A 12000 x 10000 (120 MP) bilevel PNG: a few kB on disk."""
    return _encode(Image.new("1", (12_000, 10_000)), "PNG")


def test_image_above_the_pixel_limit_is_too_large(bomb_png: bytes) -> None:
    result = decode_image(bomb_png, 100_000_000)

    assert isinstance(result, DecodeError)
    assert result.reason == "too_large"
    assert "12000x10000" in result.message


def test_too_large_is_decided_from_the_header_alone(bomb_png: bytes) -> None:
    # Only the header survives: decoding would fail, so "too_large" proves nothing was decoded.
    result = decode_image(bomb_png[:200], 100_000_000)

    assert isinstance(result, DecodeError)
    assert result.reason == "too_large"


def test_small_limit_rejects_small_images_and_accepts_the_exact_limit() -> None:
    data = _encode(Image.new("RGB", (10, 10), COLOUR), "PNG")

    too_large = decode_image(data, 99)

    assert isinstance(too_large, DecodeError) and too_large.reason == "too_large"
    assert _decoded(data, max_pixels=100).shape == (10, 10, 3)


def _read_batch(rows: list[tuple[str, str | None, str | None, bytes]]) -> pa.Table:
    columns = dict(zip([S.URI, S.IMAGE_ID, S.ERROR, S.BYTES], map(list, zip(*rows))))
    return pa.table({**columns, S.SECONDS: zero_seconds(len(rows))}, schema=S.READ_SCHEMA)


def test_decode_photos_keeps_every_row_and_passes_read_errors_through() -> None:
    good = _encode(_noise(W, H, seed=1), "PNG")
    read_error = "read_failed: FileNotFoundError: /src/gone.jpg"
    batch = _read_batch(
        [
            ("/src/good.png", "id-good", None, good),
            ("/src/gone.jpg", None, read_error, b""),
            ("/src/empty.jpg", "id-empty", None, b""),
            ("/src/text.jpg", "id-text", None, b"hello"),
        ]
    )

    decoded = decode_photos(batch, LIMIT)

    assert decoded.schema == S.DECODED_SCHEMA
    rows = decoded.to_pylist()
    assert [row[S.URI] for row in rows] == ["/src/good.png", "/src/gone.jpg", "/src/empty.jpg", "/src/text.jpg"]
    assert [row[S.IMAGE_ID] for row in rows] == ["id-good", None, "id-empty", "id-text"]
    assert [row[S.STATUS] for row in rows] == [S.STATUS_OK, S.STATUS_ERROR, S.STATUS_ERROR, S.STATUS_ERROR]
    assert rows[0][S.ERROR] is None
    assert rows[1][S.ERROR] == read_error
    assert rows[2][S.ERROR].startswith("empty_file:")
    assert rows[3][S.ERROR].startswith("not_an_image:")
    assert (rows[0][S.WIDTH], rows[0][S.HEIGHT]) == (W, H)
    for row in rows[1:]:
        assert row[S.WIDTH] is None and row[S.HEIGHT] is None and row[S.PIXELS] == b""


def test_pixels_of_rebuilds_the_decoded_array_exactly() -> None:
    image = _noise(W, H, seed=2)
    data = _encode(image, "PNG")
    row = decode_photos(_read_batch([("/src/a.png", "id", None, data)]), LIMIT).to_pylist()[0]

    pixels = pixels_of(row[S.PIXELS], row[S.PIXELS_WIDTH], row[S.PIXELS_HEIGHT])

    assert pixels.shape == (H, W, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, np.asarray(image))
    assert np.array_equal(pixels, decode_image(data, LIMIT).pixels)
    assert row[S.BYTES] == b"", "full-resolution rows do not carry their file"


def test_large_jpegs_decode_at_a_reduced_scale_keeping_their_full_size() -> None:
    image = _noise(2000, 1200, seed=3)
    data = _encode(image, "JPEG", quality=90)
    reduced = decode_image(data, LIMIT, reduce_to=640)
    assert isinstance(reduced, Decoded)
    assert (reduced.width, reduced.height) == (2000, 1200)
    assert reduced.pixels.shape == (300, 500, 3)  # 1/4: the smallest DCT scale keeping >= 0.75 * 640
    assert decode_image(data, LIMIT, reduce_to=1000).pixels.shape == (600, 1000, 3)  # 1/2
    assert decode_image(data, LIMIT, reduce_to=250).pixels.shape == (150, 250, 3)  # 1/8
    assert decode_image(data, LIMIT, reduce_to=2000).pixels.shape == (1200, 2000, 3)
    assert decode_image(data, LIMIT, reduce_to=1800).pixels.shape == (1200, 2000, 3)  # 1000 < 1350
    png = decode_image(_encode(image, "PNG"), LIMIT, reduce_to=640)
    assert png.pixels.shape == (1200, 2000, 3), "only JPEGs have DCT scaling"
    row = decode_photos(_read_batch([("/src/a.jpg", "id", None, data)]), LIMIT, reduce_to=640).to_pylist()[0]
    assert (row[S.WIDTH], row[S.HEIGHT], row[S.PIXELS_WIDTH], row[S.PIXELS_HEIGHT]) == (2000, 1200, 500, 300)
    assert row[S.BYTES] == data, "reduced rows keep their file for full-resolution crops"


def test_reduced_decode_of_an_exif_rotated_jpeg_reports_the_upright_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    _noise(2000, 1200, seed=4).save(buffer, "JPEG", exif=exif.tobytes())
    reduced = decode_image(buffer.getvalue(), LIMIT, reduce_to=640)
    assert (reduced.width, reduced.height) == (1200, 2000)
    assert reduced.pixels.shape == (500, 300, 3)


def test_large_jpegs_are_left_for_the_gpu_with_their_upright_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = io.BytesIO()
    _noise(2000, 1200, seed=5).save(rotated, "JPEG", exif=exif.tobytes())
    large, small = _encode(_noise(2000, 1200, seed=6), "JPEG"), _encode(_noise(W, H, seed=7), "JPEG")
    cmyk = _encode(_noise(2000, 1200, seed=8).convert("CMYK"), "JPEG")
    png = _encode(_noise(2000, 1200, seed=9), "PNG")
    rows = [
        ("/src/large.jpg", "a", None, large),
        ("/src/rotated.jpg", "b", None, rotated.getvalue()),
        ("/src/small.jpg", "c", None, small),
        ("/src/cmyk.jpg", "d", None, cmyk),
        ("/src/big.png", "e", None, png),
        ("/src/bomb.jpg", "f", None, large),
    ]

    decoded = decode_photos(_read_batch(rows[:5]), LIMIT, reduce_to=640, device_min_pixels=1_000_000).to_pylist()
    bomb = decode_photos(_read_batch(rows[5:]), 2_000_000, device_min_pixels=1_000_000).to_pylist()[0]

    sizes = [(r[S.WIDTH], r[S.HEIGHT], r[S.PIXELS_WIDTH], r[S.PIXELS_HEIGHT]) for r in decoded]
    assert sizes[:2] == [(2000, 1200, 0, 0), (1200, 2000, 0, 0)], "left undecoded, upright sizes from the headers"
    assert [is_for_device(r[S.PIXELS_WIDTH]) for r in decoded] == [True, True, False, False, False]
    assert decoded[0][S.BYTES] == large and decoded[0][S.PIXELS] == b""
    assert sizes[2] == (W, H, W, H), "below device_min_pixels: decoded here"
    assert sizes[3] == (2000, 1200, 500, 300), "CMYK is not for nvJPEG: decoded here (reduced)"
    assert sizes[4] == (2000, 1200, 2000, 1200), "only JPEGs go to the GPU"
    assert all(r[S.STATUS] == S.STATUS_OK for r in decoded)
    assert bomb[S.STATUS] == S.STATUS_ERROR and bomb[S.ERROR].startswith("too_large"), "the pixel limit still applies"


def test_a_batch_gets_the_signals_each_photo_would_get_alone() -> None:
    framed = Image.new("RGB", (300, 240), "white")
    framed.paste(_noise(200, 150, seed=11), (50, 45))
    rows = [
        ("/src/large.jpg", "a", None, _encode(_noise(2000, 1200, seed=10), "JPEG")),  # left for the GPU
        ("/src/broken.jpg", "b", None, b"not an image"),
        ("/src/framed.png", "c", None, _encode(framed, "PNG")),
        ("/src/tiny.png", "d", None, _encode(_noise(3, 3, seed=12), "PNG")),
        ("/src/small.jpg", "e", None, _encode(_noise(W, H, seed=13), "JPEG")),
    ]

    decoded = decode_photos(_read_batch(rows), LIMIT, device_min_pixels=1_000_000, fingerprints=True).to_pylist()

    def alone(data: bytes, reduce_to: int | None = None) -> dict:
        found = decode_image(data, LIMIT, reduce_to)
        fingerprints = photo_fingerprints([(data, found.pixels, round(found.width / found.pixels.shape[1]))])[0]
        return {
            **fingerprints,
            S.CONTENT_FRACTION: pytest.approx(fingerprints[S.CONTENT_FRACTION]),
        }  # stored as float32

    assert decoded[0][S.FINGERPRINTS_COLUMN] == alone(rows[0][3], 2 * HASH_SIDE), "decoded for the fingerprints only"
    assert decoded[1][S.FINGERPRINTS_COLUMN] is None
    for row, (_, _, _, data) in zip(decoded[2:], rows[2:]):
        assert row[S.FINGERPRINTS_COLUMN] == alone(data)
    assert 0.3 < decoded[2][S.FINGERPRINTS_COLUMN][S.CONTENT_FRACTION] < 0.5, "the frame was found inside the batch"
    assert decoded[3][S.FINGERPRINTS_COLUMN][S.PDQ] == bytes(32), "too small to hash: zeros"


def test_keypoints_off_leaves_them_out_of_the_fingerprints() -> None:
    rows = [("/src/small.jpg", "e", None, _encode(_noise(W, H, seed=13), "JPEG"))]
    kept, left_out = (
        decode_photos(_read_batch(rows), LIMIT, fingerprints=True, keypoints=keypoints).to_pylist()[0][
            S.FINGERPRINTS_COLUMN
        ]
        for keypoints in (True, False)
    )
    assert len(kept[S.KEYPOINTS]) > 0 and left_out[S.KEYPOINTS] is None
    assert {**left_out, S.KEYPOINTS: kept[S.KEYPOINTS]} == kept  # everything else as before
