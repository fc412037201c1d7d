"""The chain that turns photos into faces, defined once: read -> decode -> detect/align/embed.

The embed job runs it on Ray (read and decode as tasks, the models in actors); search, verify, enroll
and identify run it in this process (``FaceReader``); the people report and the training crops run
its first two stages (``decoded``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.ingest.analyze import AnalyzeFaces
from pipeline.ingest.decode import Decoded, DecodeError, decode_photos, pixels_of
from pipeline.ingest.fingerprints import fingerprints_only, without_faces
from pipeline.ingest.read import read_photos
from pipeline.models.registry import ModelChoices
from pipeline.runtime.stages import Stage


@dataclass(frozen=True)
class PhotoChain:
    """The chain's settings: where photos are read from, how they decode (``reduce_to``: JPEGs decoded
    at the smallest DCT scale keeping 3/4 of this side, None: full size), batch sizes, and the
    models resolved for the machines that run them."""

    storage: StorageConfig
    max_pixels: int
    reduce_to: int | None
    read_batch: int
    model_batch: int
    models: ModelChoices | None = None
    fingerprints: bool = False  # compute the dedup fingerprints while decoding
    keypoints: bool = True  # with them, the keypoints

    @classmethod
    def of(cls, config: Config, models: ModelChoices | None = None, fingerprints: bool = False) -> PhotoChain:
        """The chain as ``config`` sets it up (with the dedup fingerprints when ``fingerprints`` and
        decode.fingerprints)."""
        return cls(
            config.resolved_storage(),
            config.decode.max_pixels,
            config.models.detect_max_side if config.decode.reduce_jpeg else None,
            config.ray.read_batch_size,
            config.ray.model_batch_size,
            models,
            fingerprints and config.decode.fingerprints,
            config.decode.keypoints,
        )

    def decoding(self, device_min_pixels: int | None = None) -> list[Stage]:
        """Read, then decode (JPEGs of at least ``device_min_pixels`` left for nvJPEG in the model stage)."""
        return [
            Stage(read_photos, self.read_batch, {"storage": self.storage}),
            Stage(
                decode_photos,
                self.read_batch,
                {
                    "max_pixels": self.max_pixels,
                    "reduce_to": self.reduce_to,
                    "device_min_pixels": device_min_pixels,
                    "fingerprints": self.fingerprints,
                    "keypoints": self.keypoints,
                },
            ),
        ]

    def signing(self) -> list[Stage]:
        """Read, decode and keep only the dedup fingerprints (photos whose faces are already committed)."""
        return [*replace(self, fingerprints=True).decoding(), Stage(fingerprints_only, self.read_batch)]

    def fingerprinting(self, dim: int) -> list[Stage]:
        """Read, decode and fingerprint, and detect no face: outcome rows of photos whose library opted out of faces
        (``dim``: the embedder's, for the rows' type)."""
        return [*replace(self, fingerprints=True).decoding(), Stage(without_faces, self.read_batch, {"dim": dim})]

    def analysing(self, threads: int) -> Stage:
        """Detect, align and embed (the models load once per instance, each using ``threads``)."""
        return Stage(
            AnalyzeFaces, self.model_batch, {"models": self.models, "threads": threads, "max_pixels": self.max_pixels}
        )

    def decoded(self, uris: list[str], reduce_to: int | None = None) -> Iterator[tuple[str, Decoded | DecodeError]]:
        """Each photo read and decoded in this process (at ``reduce_to``, default full size): its pixels
        and full upright size, or why it failed."""
        read, decode = (stage.ready() for stage in replace(self, reduce_to=reduce_to, fingerprints=False).decoding())
        for start in range(0, len(uris), self.read_batch):
            rows = decode(read(pa.table({S.URI: pa.array(uris[start : start + self.read_batch], pa.string())})))
            names = (S.URI, S.STATUS, S.ERROR, S.WIDTH, S.HEIGHT, S.PIXELS_WIDTH, S.PIXELS_HEIGHT, S.PIXELS)
            for uri, status, error, width, height, pixels_width, pixels_height, pixels in zip(
                *(rows.column(name).to_pylist() for name in names)
            ):
                if status == S.STATUS_OK:
                    yield uri, Decoded(pixels_of(pixels, pixels_width, pixels_height), width, height)
                else:
                    reason, _, message = error.partition(": ")
                    yield uri, DecodeError(reason, message)
