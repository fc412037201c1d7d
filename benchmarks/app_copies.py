"""Copies of a photo as phone apps make them, for the dedup benchmark (benchmarks.dedup_library --app-copies):
free crops, small rotations cropped straight, caption bars, stickers and text drawn over, screenshots,
colour filters and vignettes, blurred square fits, and crops filtered and sent through a messenger.

Each maker takes an RGB photo (numpy, HxWx3 uint8) and a seeded random.Random and returns the copy's
file bytes and extension; the same seed makes the same copy.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

JPEG_QUALITY = (85, 95)  # what an app saves at
FONT = cv2.FONT_HERSHEY_DUPLEX
CAPTIONS = ("when it's friday", "me every monday", "nobody:", "this is fine", "mood", "best day ever", "lol", "same")


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _saved(pixels: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    return _jpeg(pixels, rng.randint(*JPEG_QUALITY)), "jpg"


def _crop_box(height: int, width: int, rng: random.Random, low: float, high: float) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a crop keeping a share of the area in [low, high], any aspect, any place."""
    area = rng.uniform(low, high) * height * width
    aspect = rng.uniform(0.6, 1.6)  # width / height of the crop
    crop_w = int(min(width, max(16, (area * aspect) ** 0.5)))
    crop_h = int(min(height, max(16, area / crop_w)))
    top, left = rng.randint(0, height - crop_h), rng.randint(0, width - crop_w)
    return top, left, top + crop_h, left + crop_w


def free_crop(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """A crop keeping 40%-90% of the area, any aspect, anywhere."""
    top, left, bottom, right = _crop_box(*photo.shape[:2], rng, 0.4, 0.9)
    return _saved(np.ascontiguousarray(photo[top:bottom, left:right]), rng)


def rotated(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """Turned 1-8 degrees either way and cropped to the largest centred rectangle with no empty corner."""
    height, width = photo.shape[:2]
    angle = rng.uniform(1, 8) * rng.choice((-1, 1))
    turned = cv2.warpAffine(
        photo, cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), (width, height), flags=cv2.INTER_CUBIC
    )
    theta = np.radians(abs(angle))
    shrink = 1 / (np.cos(theta) + np.sin(theta) * max(width, height) / min(width, height))
    keep_w, keep_h = int(width * shrink), int(height * shrink)
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    return _saved(np.ascontiguousarray(turned[top : top + keep_h, left : left + keep_w]), rng)


def _text(canvas: np.ndarray, text: str, width: int, baseline: int, colour, outline=None) -> None:
    """``text`` centred on ``canvas`` at ``baseline``, scaled to fit ``width`` (an outline first when given)."""
    scale = min(1.2, 0.9 * width / max(1, cv2.getTextSize(text, FONT, 1.0, 2)[0][0]))
    size = cv2.getTextSize(text, FONT, scale, 2)[0]
    place = ((canvas.shape[1] - size[0]) // 2, baseline)
    if outline is not None:
        cv2.putText(canvas, text, place, FONT, scale, outline, 6, cv2.LINE_AA)
    cv2.putText(canvas, text, place, FONT, scale, colour, 2, cv2.LINE_AA)


def caption(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """A bar of text added above, below or both (a meme): the canvas grows."""
    height, width = photo.shape[:2]
    bar = max(30, int(height * rng.uniform(0.12, 0.25)))
    background = rng.choice(((255, 255, 255), (0, 0, 0), (250, 240, 200)))
    ink = (0, 0, 0) if sum(background) > 300 else (255, 255, 255)
    parts = []
    for where in rng.choice((("top",), ("bottom",), ("top", "bottom"))):
        strip = np.full((bar, width, 3), background, np.uint8)
        _text(strip, rng.choice(CAPTIONS), width, int(bar * 0.65), ink)
        parts.append((where, strip))
    stacked = [s for w, s in parts if w == "top"] + [photo] + [s for w, s in parts if w == "bottom"]
    return _saved(np.vstack(stacked), rng)


def _sticker(canvas: np.ndarray, rng: random.Random, radius: int) -> None:
    height, width = canvas.shape[:2]
    x, y = rng.randint(radius, width - radius), rng.randint(radius, height - radius)
    shape = rng.choice(("emoji", "heart", "star", "blob"))
    if shape == "emoji":
        cv2.circle(canvas, (x, y), radius, (255, 200, 40), -1, cv2.LINE_AA)
        cv2.circle(canvas, (x, y), radius, (200, 120, 20), 2, cv2.LINE_AA)
        for side in (-1, 1):
            cv2.circle(canvas, (x + side * radius // 3, y - radius // 4), max(1, radius // 8), (40, 40, 40), -1)
        cv2.ellipse(canvas, (x, y + radius // 6), (radius // 2, radius // 3), 0, 0, 180, (40, 40, 40), 2, cv2.LINE_AA)
    elif shape == "heart":
        colour = (230, 40, 60)
        for side in (-1, 1):
            cv2.circle(canvas, (x + side * radius // 2, y), radius // 2, colour, -1, cv2.LINE_AA)
        cv2.fillPoly(canvas, [np.array([[x - radius, y + 2], [x + radius, y + 2], [x, y + radius]], np.int32)], colour)
    elif shape == "star":
        angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
        points = [(x + radius * r * np.cos(a), y + radius * r * np.sin(a)) for a, r in zip(angles, [1, 0.45] * 5)]
        cv2.fillPoly(canvas, [np.array(points, np.int32)], (250, 210, 40), cv2.LINE_AA)
    else:
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        axes = (radius, max(4, int(radius * rng.uniform(0.5, 1.0))))
        cv2.ellipse(canvas, (x, y), axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA)
        cv2.ellipse(canvas, (x, y), axes, 0, 0, 360, (255, 255, 255), 3, cv2.LINE_AA)


def overlay(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """Stickers (emoji, hearts, stars, blobs) and text drawn over 3%-20% of the photo."""
    canvas = photo.copy()
    height, width = canvas.shape[:2]
    covered = rng.uniform(0.03, 0.2) * height * width
    stickers = rng.randint(1, 3)
    radius = max(8, min(int((covered / stickers / np.pi) ** 0.5), min(height, width) // 3))
    for _ in range(stickers):
        _sticker(canvas, rng, radius)
    if rng.random() < 0.6:
        _text(
            canvas,
            rng.choice(CAPTIONS).upper(),
            width,
            rng.choice((int(height * 0.15), int(height * 0.93))),
            (255, 255, 255),
            (0, 0, 0),
        )
    return _saved(canvas, rng)


def screenshot(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """The photo shown in an app: a phone-shaped canvas, a status bar (time, battery), toolbars, lines of
    other text, the photo fitted across most of the width; saved as PNG."""
    screen_w = rng.choice((540, 585, 720))
    screen_h = int(screen_w * rng.choice((16 / 9, 19.5 / 9)))
    dark = rng.random() < 0.4
    screen = np.full((screen_h, screen_w, 3), 18 if dark else 248, np.uint8)
    ink = (235, 235, 235) if dark else (20, 20, 20)
    cv2.putText(screen, f"{rng.randint(7, 23)}:{rng.randint(0, 59):02d}", (20, 38), FONT, 0.8, ink, 2, cv2.LINE_AA)
    cv2.rectangle(screen, (screen_w - 70, 18), (screen_w - 30, 36), ink, 2)
    cv2.rectangle(screen, (screen_w - 66, 22), (screen_w - 66 + rng.randint(8, 32), 32), ink, -1)
    cv2.rectangle(screen, (0, 56), (screen_w, 110), (40, 40, 46) if dark else (235, 235, 240), -1)
    cv2.putText(screen, rng.choice(("Photos", "Chats", "Anna", "Family")), (20, 92), FONT, 0.9, ink, 2, cv2.LINE_AA)
    fitted_w = int(screen_w * rng.uniform(0.8, 1.0))
    fitted_h = int(photo.shape[0] * fitted_w / photo.shape[1])
    top = rng.randint(130, max(131, screen_h - fitted_h - 180))
    left = (screen_w - fitted_w) // 2
    screen[top : top + fitted_h, left : left + fitted_w] = cv2.resize(
        photo, (fitted_w, fitted_h), interpolation=cv2.INTER_AREA if fitted_w < photo.shape[1] else cv2.INTER_CUBIC
    )
    for line in range(3):
        y = top + fitted_h + 40 + 34 * line
        if y < screen_h - 90:
            cv2.putText(screen, rng.choice(CAPTIONS), (20, y), FONT, 0.7, ink, 1, cv2.LINE_AA)
    cv2.rectangle(screen, (0, screen_h - 80), (screen_w, screen_h), (40, 40, 46) if dark else (235, 235, 240), -1)
    for k in range(4):
        cv2.circle(screen, (screen_w * (2 * k + 1) // 8, screen_h - 40), 12, ink, 2, cv2.LINE_AA)
    return _png(screen), "png"


def _filtered(photo: np.ndarray, rng: random.Random) -> np.ndarray:
    """A colour filter (sepia, warm, cool, faded, contrast, saturation up or down), a vignette, or both."""
    pixels = photo.astype(np.float32)
    name = rng.choice(("sepia", "warm", "cool", "faded", "contrast", "saturate", "desaturate", "vignette"))
    if name == "sepia":
        pixels = pixels @ np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]]).T
    elif name in ("warm", "cool"):
        pixels = pixels * (np.array([1.12, 1.0, 0.85]) if name == "warm" else np.array([0.88, 1.0, 1.15]))
    elif name == "faded":
        pixels = 40 + pixels * 0.75
    elif name == "contrast":
        pixels = (pixels - 128) * 1.35 + 128
    elif name in ("saturate", "desaturate"):
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * (1.6 if name == "saturate" else 0.4)
    if name == "vignette" or rng.random() < 0.3:
        height, width = photo.shape[:2]
        y, x = np.ogrid[:height, :width]
        distance = np.hypot((y - height / 2) / (height / 2), (x - width / 2) / (width / 2)) / np.sqrt(2)
        pixels = pixels * (1 - rng.uniform(0.3, 0.6) * distance[..., None] ** 2)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def colour_filter(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """A colour filter or a vignette, as a photo app's filters make them."""
    return _saved(_filtered(photo, rng), rng)


def blurred_fit(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """The photo centred on a square of a blurred, enlarged copy of itself."""
    height, width = photo.shape[:2]
    side = int(max(height, width) * rng.uniform(1.15, 1.5))
    background = cv2.GaussianBlur(cv2.resize(photo, (side, side), interpolation=cv2.INTER_LINEAR), (0, 0), side / 25)
    top, left = (side - height) // 2, (side - width) // 2
    background[top : top + height, left : left + width] = photo
    return _saved(background, rng)


def stacked(photo: np.ndarray, rng: random.Random) -> tuple[bytes, str]:
    """A crop, a filter, then a messenger's resize (to 60%-90%) and recompression (JPEG quality 60-80)."""
    top, left, bottom, right = _crop_box(*photo.shape[:2], rng, 0.5, 0.9)
    edited = _filtered(np.ascontiguousarray(photo[top:bottom, left:right]), rng)
    scale = rng.uniform(0.6, 0.9)
    size = (max(16, int(edited.shape[1] * scale)), max(16, int(edited.shape[0] * scale)))
    return _jpeg(cv2.resize(edited, size, interpolation=cv2.INTER_AREA), rng.randint(60, 80)), "jpg"


APP_KINDS: dict[str, Callable[[np.ndarray, random.Random], tuple[bytes, str]]] = {
    "free_crop": free_crop,
    "rotated": rotated,
    "caption": caption,
    "overlay": overlay,
    "screenshot": screenshot,
    "filter": colour_filter,
    "blurred_fit": blurred_fit,
    "stacked": stacked,
}
