"""The model stage: detect, align and embed every face of a batch of decoded photos."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from pipeline import schema as S
from pipeline.config import DecodeConfig
from pipeline.ingest.decode import (
    Decoded,
    DecodeError,
    decode_image,
    decode_on_device_or_cpu,
    is_for_device,
    pixels_of,
    pixels_or_error,
)
from pipeline.ingest.timing import add_seconds, timed
from pipeline.models.align import CROP_SIZE, align_faces, align_faces_torch
from pipeline.models.detectors import Detections
from pipeline.models.protocols import OWN_ALIGNMENT, TEMPLATE_ALIGNMENT
from pipeline.models.registry import ModelChoices, load_detector, load_embedder


def use_opencv_threads(threads: int) -> None:
    """OpenCV's own thread pool sized to ``threads`` (at least one), unless it already is: resizing it
    while other threads run OpenCV is not safe, so a process running several models on threads sizes
    it once, before they start."""
    if cv2.getNumThreads() != max(1, threads):
        cv2.setNumThreads(max(1, threads))


class AnalyzeFaces:
    """Stage: decoded rows (DECODED_SCHEMA) in, one outcome row per photo with nested faces out.

    Models (resolved once by the job) load in the constructor (one instance per Ray actor). All photos of a batch are
    detected together and all their faces embedded together. When both models take tensors on one
    device (torch: the CUDA default) photos go to the device once and the crops are warped there; JPEGs
    the decode stage left undecoded (decode.device_min_pixels) are decoded there by nvJPEG. Photos that
    failed earlier pass through with their error; photos without a face get status no_face.
    """

    def __init__(self, models: ModelChoices, threads: int = 1, max_pixels: int = DecodeConfig().max_pixels):
        use_opencv_threads(threads)
        self.max_pixels = max_pixels
        self.detector = load_detector(models, threads)
        self.embedder = load_embedder(models, threads)
        # both models take tensors on one device: photos go there once, crops are warped there
        self.on_device = (
            self.detector.device_input
            and self.embedder.device_input
            and self.embedder.alignment == TEMPLATE_ALIGNMENT
            and self.detector.device == self.embedder.device
        )
        self.schema = S.analyzed_schema(self.embedder.dim)

    def _crops_for(self, image: np.ndarray, found: Detections) -> np.ndarray:
        """The embedder's input crops for the faces in ``found``: its own alignment where it has one
        (dlib's chips), else the ArcFace template at its crop size."""
        if self.embedder.alignment == OWN_ALIGNMENT:
            return self.embedder.align(image, found)
        return align_faces(image, found.landmarks, self.embedder.crop_size)

    def detect_and_crop(self, images: list[np.ndarray], spent: dict[str, float]):
        """Detections per photo and the aligned crops of all their faces, in photo order."""
        size = self.embedder.crop_size
        if not self.on_device:
            with timed(spent, "detect"):
                found = self.detector(images)
            with timed(spent, "align"):
                crops = [self._crops_for(image, d) for image, d in zip(images, found) if len(d)]
                return found, np.concatenate(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
        import torch

        found: list[Detections] = [Detections.empty()] * len(images)
        per_photo: list = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(tuple(image.shape), []).append(i)
        for members in groups.values():  # photos of one shape travel to the device and run together
            with timed(spent, "detect"):
                if isinstance(images[members[0]], np.ndarray):
                    stacked = torch.from_numpy(np.stack([images[i] for i in members])).to(self.embedder.device)
                    photos = stacked.permute(0, 3, 1, 2)
                else:  # (3, H, W) uint8 tensors already on the device (decoded there)
                    photos = torch.stack([images[i] for i in members])
                detections = self.detector.detect_on_device(photos)
            with timed(spent, "align"):
                index = np.concatenate([np.full(len(d), k) for k, d in enumerate(detections)])
                landmarks = np.concatenate([d.landmarks for d in detections])
                crops = None
                if len(index):
                    crops = align_faces_torch(photos.to(self.embedder.dtype), index, landmarks, size)
            start = 0
            for i, d in zip(members, detections):
                found[i], per_photo[i] = d, crops[start : start + len(d)] if len(d) else None
                start += len(d)
        pieces = [crops for crops in per_photo if crops is not None]
        return found, torch.cat(pieces) if pieces else torch.zeros((0, 3, size, size), device=self.embedder.device)

    def faces_of(self, images: list, spent: dict[str, float] | None = None) -> list[list[dict]]:
        """Per photo (HxWx3 uint8 RGB arrays; on the device path also 3xHxW uint8 tensors there), its
        faces as dicts of bbox, landmarks, det_score and embedding; stage seconds are added to ``spent``."""
        spent = {} if spent is None else spent
        found, crops = self.detect_and_crop(images, spent)
        counts = [len(d) for d in found]
        with timed(spent, "embed"):
            vectors = self.embedder(crops) if sum(counts) else np.zeros((0, self.embedder.dim), np.float32)
        starts = np.cumsum([0, *counts])
        return [
            [
                {S.BBOX: box, S.LANDMARKS: points, S.DET_SCORE: float(score), S.EMBEDDING: vector}
                for box, points, score, vector in zip(d.boxes, d.landmarks, d.scores, vectors[start : start + len(d)])
            ]
            for d, start in zip(found, starts)
        ]

    def _to_full_resolution(
        self, faces: list[dict], pixels: np.ndarray, width: int, data: bytes, spent: dict[str, float]
    ) -> None:
        """Faces found on pixels decoded at a reduced scale: coordinates scaled to the full photo, and
        faces smaller than the crop re-aligned and re-embedded from the full-resolution decode."""
        ratio = width / pixels.shape[1]
        for face in faces:
            face[S.BBOX] = face[S.BBOX] * ratio
            face[S.LANDMARKS] = face[S.LANDMARKS] * ratio
        small = [f for f in faces if min(f[S.BBOX][2] - f[S.BBOX][0], f[S.BBOX][3] - f[S.BBOX][1]) < CROP_SIZE * ratio]
        if not small:
            return
        with timed(spent, "decode"):
            full = decode_image(data, max_pixels=2**62)
        if isinstance(full, Decoded):
            with timed(spent, "align"):
                boxes, marks = (np.stack([f[key] for f in small]) for key in (S.BBOX, S.LANDMARKS))
                crops = self._crops_for(full.pixels, Detections(boxes, marks, np.ones(len(small), np.float32)))
            with timed(spent, "embed"):
                vectors = self.embedder(crops)
            for face, vector in zip(small, vectors):
                face[S.EMBEDDING] = vector

    def _images(self, rows: list[tuple], spent: dict[str, float]) -> tuple[dict[int, object], dict[int, str]]:
        """Pixels per decodable row (HxWx3 arrays the CPU stage decoded; JPEGs it left for the GPU
        decoded here, by nvJPEG, or on the CPU when this actor's models are not on a GPU), and the
        errors of files that turned out undecodable here."""
        ok = [i for i, row in enumerate(rows) if row[0] == S.STATUS_OK]
        images: dict[int, object] = {
            i: pixels_of(rows[i][4], rows[i][2], rows[i][3]) for i in ok if not is_for_device(rows[i][2])
        }
        waiting = [i for i in ok if is_for_device(rows[i][2])]
        if not waiting:
            return images, {}
        with timed(spent, "decode"):
            payloads = [rows[i][5] for i in waiting]
            if self.on_device:
                decoded = decode_on_device_or_cpu(payloads, self.embedder.device, self.max_pixels)
            else:
                decoded = [pixels_or_error(data, self.max_pixels) for data in payloads]
        failed = {i: str(d) for i, d in zip(waiting, decoded) if isinstance(d, DecodeError)}
        images.update((i, d) for i, d in zip(waiting, decoded) if i not in failed)
        return dict(sorted(images.items())), failed

    def __call__(self, batch: pa.Table) -> pa.Table:
        names = (S.STATUS, S.WIDTH, S.PIXELS_WIDTH, S.PIXELS_HEIGHT, S.PIXELS, S.BYTES)
        rows = list(zip(*(batch.column(name).to_pylist() for name in names)))
        spent: dict[str, float] = {}
        images, failed = self._images(rows, spent)
        faces: list[list[dict]] = [[] for _ in rows]
        for i, found in zip(images, self.faces_of(list(images.values()), spent)):
            faces[i] = found
            if not is_for_device(rows[i][2]) and rows[i][1] != rows[i][2]:  # decoded at a reduced scale
                self._to_full_resolution(found, images[i], rows[i][1], rows[i][5], spent)
        statuses = [
            S.STATUS_ERROR if i in failed else row[0] if row[0] != S.STATUS_OK or faces[i] else S.STATUS_NO_FACE
            for i, row in enumerate(rows)
        ]
        columns = {name: batch.column(name) for name in (S.URI, S.IMAGE_ID)}
        for name in (S.WIDTH, S.HEIGHT):  # a file that failed here has no size, as a decode error has none
            columns[name] = pa.array(
                [None if i in failed else v for i, v in enumerate(batch.column(name).to_pylist())], pa.int32()
            )
        columns[S.ERROR] = pa.array(
            [failed.get(i, error) for i, error in enumerate(batch.column(S.ERROR).to_pylist())], pa.string()
        )
        columns[S.STATUS] = pa.array(statuses, pa.string())
        columns[S.FACES] = pa.array(faces, self.schema.field(S.FACES).type)
        columns[S.FINGERPRINTS_COLUMN] = batch.column(S.FINGERPRINTS_COLUMN)
        columns[S.SECONDS] = add_seconds(batch.column(S.SECONDS), spent)
        return pa.table(columns).select(self.schema.names).cast(self.schema)
