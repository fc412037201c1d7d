"""Face detection: boxes, five landmarks and scores in original-pixel coordinates."""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from pipeline.models.batch_shapes import pad_batch

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Detections:
    """Faces found in one photo, best score first.

    boxes: (N, 4) float32 x1, y1, x2, y2; landmarks: (N, 10) float32 x, y of the subject's right eye,
    left eye, nose tip, right mouth corner, left mouth corner; scores: (N,) float32.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0, 10), np.float32), np.zeros((0,), np.float32))


def working_scale(width: int, height: int, max_side: int) -> float:
    """Factor that brings the longest side down to ``max_side`` (never enlarges)."""
    return min(1.0, max_side / max(width, height))


def pad_to_stride(size: int, stride: int = 32) -> int:
    """The smallest multiple of ``stride`` that holds ``size`` (the detectors' input sizes)."""
    return -(-size // stride) * stride


def non_maximum_suppression(rows: np.ndarray, score_threshold: float, nms_threshold: float) -> np.ndarray:
    """The rows (x, y, w, h, ..., score in column 14) that survive OpenCV's NMS."""
    if not len(rows):
        return rows
    kept = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), score_threshold, nms_threshold)
    return rows[np.asarray(kept, dtype=int).reshape(-1)]


def scale_for_detection(image: np.ndarray, max_side: int) -> np.ndarray:
    """The photo scaled down so that its longest side is at most ``max_side``."""
    height, width = image.shape[:2]
    scale = working_scale(width, height, max_side)
    if scale == 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def to_detections(
    rows: np.ndarray, original_shape: tuple[int, ...], small_shape: tuple[int, ...], min_face_size: int
) -> Detections:
    """YuNet rows (x, y, w, h, 10 landmark coordinates, score) found on the scaled photo ->
    Detections in original pixels, best score first, boxes clipped, small faces dropped."""
    if not len(rows):
        return Detections.empty()
    rows = rows[np.argsort(-rows[:, 14])]
    height, width = original_shape[:2]
    sx, sy = width / small_shape[1], height / small_shape[0]
    x, y, w, h = rows[:, 0] * sx, rows[:, 1] * sy, rows[:, 2] * sx, rows[:, 3] * sy
    boxes = np.stack([x, y, x + w, y + h], axis=1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    landmarks = rows[:, 4:14] * np.array([sx, sy] * 5, dtype=np.float32)
    keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= min_face_size
    return Detections(
        boxes[keep].astype(np.float32), landmarks[keep].astype(np.float32), rows[keep, 14].astype(np.float32)
    )


class YuNetDetector:
    """OpenCV's YuNet, one photo at a time, on a scaled copy (longest side <= max_side).

    Call it with a list of HxWx3 uint8 RGB arrays; get a list of Detections in original pixels.
    """

    device, device_input = "cpu", False

    def __init__(
        self,
        model_path: Path,
        model_id: str,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face_size: int = 0,
    ):
        self.model_id = model_id
        self.max_side = max_side
        self.min_face_size = min_face_size
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, nms_threshold, 5000)

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in one HxWx3 uint8 RGB photo."""
        small = scale_for_detection(rgb, self.max_side)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, found = self._net.detect(bgr)
        rows = np.zeros((0, 15), np.float32) if found is None else found
        return to_detections(rows, rgb.shape, small.shape, self.min_face_size)

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images]


YUNET_STRIDES = (8, 16, 32)


@functools.cache
def _anchor_cells(height: int, width: int, stride: int) -> np.ndarray:
    """(A, 2) float32 (column, row) of every anchor point of one YuNet head."""
    rows, columns = np.mgrid[: height // stride, : width // stride]
    return np.stack([columns.ravel(), rows.ravel()], axis=1).astype(np.float32)


def decode_yunet(outputs: dict, height: int, width: int):
    """YuNet's raw head outputs for a padded batch (N, 3, height, width) -> (N, A, 15) rows of
    x1, y1, w, h, 10 landmark coordinates and score, one per anchor point, in padded-input pixels.
    numpy arrays in, numpy out (OpenVINO); torch tensors in, torch out on their device (the GPU path)."""
    if isinstance(outputs["cls_8"], np.ndarray):
        xp, cells = np, functools.partial(_anchor_cells, height, width)
    else:
        import torch

        device = outputs["cls_8"].device
        xp, cells = torch, lambda stride: torch.as_tensor(_anchor_cells(height, width, stride), device=device)
    rows = []
    for stride in YUNET_STRIDES:
        cell = cells(stride)
        cls, obj = outputs[f"cls_{stride}"], outputs[f"obj_{stride}"]
        box, kps = outputs[f"bbox_{stride}"], outputs[f"kps_{stride}"]
        score = xp.sqrt(cls.clip(0, 1) * obj.clip(0, 1))
        centre = (cell + box[..., :2]) * stride
        size = xp.exp(box[..., 2:4]) * stride
        points = (kps.reshape(*kps.shape[:2], 5, 2) + cell[:, None, :]) * stride
        rows.append(xp.concatenate([centre - size / 2, size, points.reshape(*kps.shape[:2], 10), score], axis=2))
    return xp.concatenate(rows, axis=1)


class YuNetBatchDetector(abc.ABC):
    """YuNet run on whole batches: photos are scaled to the working size, grouped by the shape they
    pad to (multiples of 32), run together; NMS per photo on the CPU. Subclasses run the network
    (``_run_padded``)."""

    device, device_input = "cpu", False

    def __init__(self, model_id: str, max_side: int, score_threshold: float, nms_threshold: float, min_face_size: int):
        self.model_id, self.max_side, self.min_face_size = model_id, max_side, min_face_size
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        if not images:
            return []
        small = [scale_for_detection(image, self.max_side) for image in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(small):
            groups.setdefault((pad_to_stride(im.shape[0]), pad_to_stride(im.shape[1])), []).append(i)
        candidates: list[np.ndarray] = [np.zeros((0, 15), np.float32)] * len(small)
        for (height, width), members in groups.items():
            for i, rows in zip(members, self._candidates([small[i] for i in members], height, width)):
                candidates[i] = rows
        return [self._finish(c, im.shape, s_im.shape) for c, im, s_im in zip(candidates, images, small)]

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in one HxWx3 uint8 RGB photo."""
        return self([rgb])[0]

    def _candidates(self, images: list[np.ndarray], height: int, width: int) -> list[np.ndarray]:
        """Rows above the score threshold for photos that pad to the same (height, width).

        Photos are batched only with others of their padded shape: the network's activations over
        padding differ from its zero border, so a larger canvas would shift the results.
        """
        batch = np.zeros((len(images), height, width, 3), np.uint8)
        for i, im in enumerate(images):
            batch[i, : im.shape[0], : im.shape[1]] = im[:, :, ::-1]  # the network reads BGR
        return self._run_padded(batch)

    @abc.abstractmethod
    def _run_padded(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Candidate rows per photo of a padded (N, H, W, 3) uint8 BGR batch."""

    def _finish(self, rows: np.ndarray, original_shape: tuple, small_shape: tuple) -> Detections:
        rows = non_maximum_suppression(rows, self.score_threshold, self.nms_threshold)
        return to_detections(rows, original_shape, small_shape, self.min_face_size)


class YuNetOpenVinoDetector(YuNetBatchDetector):
    """YuNet's float32 graph compiled by OpenVINO for the CPU (dynamic batch and size)."""

    def __init__(
        self,
        model_bytes: bytes,
        model_id: str,
        threads: int = 1,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face_size: int = 0,
    ):
        from pipeline.models.openvino_engine import compile_for_cpu

        super().__init__(model_id, max_side, score_threshold, nms_threshold, min_face_size)
        self._compiled = compile_for_cpu(model_bytes, [-1, 3, -1, -1], threads)
        heads = {f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in YUNET_STRIDES}
        self._names = [next(iter(heads & output.names)) for output in self._compiled.outputs]

    def _run_padded(self, bgr: np.ndarray) -> list[np.ndarray]:
        results = self._compiled(np.ascontiguousarray(bgr.transpose(0, 3, 1, 2), dtype=np.float32))
        outputs = {name: results[i] for i, name in enumerate(self._names)}
        rows = decode_yunet(outputs, *bgr.shape[1:3])
        photo, anchor = np.nonzero(rows[..., 14] >= self.score_threshold)
        found = rows[photo, anchor]
        return [found[photo == i] for i in range(len(bgr))]


class YuNetTorchDetector(YuNetBatchDetector):
    """YuNet as a batched torch module (CPU or CUDA), decoded on the device; photos already on the
    device are detected there (``detect_on_device``). ``threads``: torch's CPU threads (a process-wide
    setting)."""

    device_input = True

    def __init__(
        self,
        network: torch.nn.Module,
        model_id: str,
        device: str,
        threads: int = 1,
        max_side: int = 640,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face_size: int = 0,
    ):
        import torch

        super().__init__(model_id, max_side, score_threshold, nms_threshold, min_face_size)
        self.device = device
        torch.set_num_threads(max(1, threads))
        # float32 on every device, and no TF32 convolutions on CUDA: in float16 or TF32 a few boxes
        # move (IoU down to 0.87 against OpenCV). The flag is process-wide; the embedder runs in float16.
        self.dtype = torch.float32
        if device == "cuda":
            torch.backends.cudnn.allow_tf32 = False
        self.network = network.to(device=device, dtype=self.dtype).eval()
        self.output_names = network.output_names

    def _run_padded(self, bgr: np.ndarray) -> list[np.ndarray]:
        import torch

        return self._run(torch.from_numpy(bgr).to(self.device).permute(0, 3, 1, 2))

    def _run(self, bgr) -> list[np.ndarray]:
        """Candidate rows per photo of a padded (N, 3, H, W) BGR batch on the device."""
        import torch

        with torch.inference_mode():
            rows = decode_yunet(dict(zip(self.output_names, self.network(bgr.to(self.dtype)))), *bgr.shape[2:])
            photo, anchor = torch.nonzero(rows[..., 14] >= self.score_threshold, as_tuple=True)
            found = rows[photo, anchor].cpu().numpy()
            photo = photo.cpu().numpy()
        return [found[photo == i] for i in range(len(bgr))]

    def detect_on_device(self, photos) -> list[Detections]:
        """Detections for same-shaped photos already on the device: (N, 3, H, W) uint8 RGB."""
        import torch
        import torch.nn.functional as F

        height, width = photos.shape[2:]
        scale = working_scale(width, height, self.max_side)
        small_h, small_w = (
            (height, width) if scale == 1.0 else (max(1, round(height * scale)), max(1, round(width * scale)))
        )
        with torch.inference_mode():
            small = photos.flip(1).to(self.dtype)
            if scale != 1.0:
                small = F.interpolate(
                    small, size=(small_h, small_w), mode="bilinear", antialias=True, align_corners=False
                )
            padded = F.pad(small, (0, pad_to_stride(small_w) - small_w, 0, pad_to_stride(small_h) - small_h))
        if self.device == "cuda":  # few distinct shapes for cuDNN's plan cache
            padded = pad_batch(padded)
        candidates = self._run(padded)[: len(photos)]
        return [self._finish(rows, (height, width), (small_h, small_w)) for rows in candidates]


def onnxruntime_session(model: str | Path | bytes, device: str, threads: int = 1):
    """An onnxruntime session on ``device`` (the CUDA provider when asked for and installed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options, providers=providers)


class ScrfdDetector:
    """A bring-your-own InsightFace SCRFD detector with 5 keypoints (ONNX, onnxruntime), one photo at
    a time on a scaled copy padded to multiples of 32. Outputs follow InsightFace's scrfd.py: scores,
    box distances and keypoint offsets at strides 8, 16 and 32, two anchors per cell."""

    strides = (8, 16, 32)
    anchors = 2
    device_input = False

    def __init__(
        self,
        model_path: Path,
        model_id: str,
        device: str,
        threads: int = 1,
        max_side: int = 640,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        min_face_size: int = 0,
    ):
        self._session = onnxruntime_session(model_path, device, threads)
        self._input = self._session.get_inputs()[0].name
        self.model_id, self.device, self.max_side, self.min_face_size = model_id, device, max_side, min_face_size
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold

    def detect(self, rgb: np.ndarray) -> Detections:
        """Faces in one HxWx3 uint8 RGB photo."""
        small = scale_for_detection(rgb, self.max_side)
        height, width = pad_to_stride(small.shape[0]), pad_to_stride(small.shape[1])
        canvas = np.zeros((height, width, 3), np.float32)
        canvas[: small.shape[0], : small.shape[1]] = small
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self._session.run(None, {self._input: blob})
        rows = []
        for k, stride in enumerate(self.strides):
            scores, distances, offsets = outputs[k][:, 0], outputs[k + 3] * stride, outputs[k + 6] * stride
            ys, xs = np.mgrid[: height // stride, : width // stride]
            centres = np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1) * stride, self.anchors, axis=0).astype(
                np.float32
            )
            keep = scores >= self.score_threshold
            c, d = centres[keep], distances[keep]
            points = offsets[keep].reshape(-1, 5, 2) + c[:, None, :]
            box = np.concatenate([c - d[:, :2], d[:, :2] + d[:, 2:]], axis=1)  # x, y, w, h
            rows.append(np.concatenate([box, points.reshape(-1, 10), scores[keep, None]], axis=1))
        found = non_maximum_suppression(
            np.concatenate(rows).astype(np.float32), self.score_threshold, self.nms_threshold
        )
        return to_detections(found, rgb.shape, small.shape, self.min_face_size)

    def __call__(self, images: list[np.ndarray]) -> list[Detections]:
        return [self.detect(image) for image in images]
