"""Which copy of a photo to keep: the one with the most information.

The order, each criterion deciding only when the ones before it tie:
1. the most pixels, width x height (not downscaled, not cropped);
2. not shrunk into a uniform frame: a frame counts when it takes more than FRAMED_BELOW of the area
   (second, and coarse, because a photo's own dark corners or plain edges can pass for a thin frame:
   6% of LFW's photos, whose recompressed copies' noisier edges do not);
3. colour over greyscale;
4. the most EXIF tags, orientation aside (metadata kept; a messenger copy strips it);
5. the earliest capture: EXIF DateTimeOriginal, else the file's modification time (the original
   predates its edits and exports);
6. the highest JPEG quality (lossless formats count as 100): the least recompressed;
7. the smallest file (the same pixels in a leaner container);
8. the uri, so that the choice never depends on the order of the rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

from pipeline import schema as S

LOSSLESS_QUALITY = 100
FRAMED_BELOW = 0.7  # content fraction under which a photo counts as shrunk into a frame
ORDER = ("pixels", "content", "colour", "exif_fields", "captured", "jpeg_quality", "size", "uri")


def _framed_content(fraction: float | None) -> float:
    """The share of the area inside a frame, 1.0 unless the frame takes more than FRAMED_BELOW."""
    return round(fraction, 2) if fraction is not None and fraction < FRAMED_BELOW else 1.0


@dataclass(frozen=True)
class Copy:
    """What the keeper order reads of one photo (a row of the images table)."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        S.URI,
        S.WIDTH,
        S.HEIGHT,
        S.CONTENT_FRACTION,
        S.GREYSCALE,
        S.EXIF_FIELDS,
        S.CAPTURED_AT,
        S.MTIME,
        S.JPEG_QUALITY,
        S.SIZE,
    )

    uri: str
    pixels: int
    content: float
    colour: bool
    exif_fields: int
    captured: dt.datetime | None
    jpeg_quality: int
    size: int

    @classmethod
    def of(cls, row: dict) -> Copy:
        """From an images row (its COLUMNS)."""
        quality = row[S.JPEG_QUALITY]
        return cls(
            uri=row[S.URI],
            pixels=(row[S.WIDTH] or 0) * (row[S.HEIGHT] or 0),
            content=_framed_content(row[S.CONTENT_FRACTION]),
            colour=not row[S.GREYSCALE],
            exif_fields=row[S.EXIF_FIELDS] or 0,
            captured=row[S.CAPTURED_AT] or row[S.MTIME],
            jpeg_quality=LOSSLESS_QUALITY if quality is None else quality,
            size=row[S.SIZE] or 0,
        )

    def rank(self) -> tuple:
        """Sorts the best copy first."""
        never = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        return (
            -self.pixels,
            -self.content,
            not self.colour,
            -self.exif_fields,
            self.captured or never,
            -self.jpeg_quality,
            self.size,
            self.uri,
        )

    def evidence(self) -> dict:
        """The values the order compared, for the keeper's evidence."""
        return {
            "pixels": self.pixels,
            "content": self.content,
            "colour": self.colour,
            "exif_fields": self.exif_fields,
            "captured": self.captured.isoformat() if self.captured else None,
            "jpeg_quality": self.jpeg_quality,
            "size": self.size,
        }


def ranked(copies: list[Copy]) -> tuple[list[int], str]:
    """The indexes of ``copies``, the one to keep first, and the first criterion of ORDER that set it apart
    from the runner-up."""
    order = sorted(range(len(copies)), key=lambda i: copies[i].rank())
    best, second = order[0], order[1] if len(order) > 1 else order[0]
    decided = next((name for name, a, b in zip(ORDER, copies[best].rank(), copies[second].rank()) if a != b), ORDER[-1])
    return order, decided


def choose_keeper(copies: list[Copy]) -> tuple[int, str]:
    """The index of the copy to keep, and the first criterion of ORDER that set it apart from the
    runner-up."""
    order, decided = ranked(copies)
    return order[0], decided
