"""Face embedding on four engines (OpenCV, onnxruntime, OpenVINO, torch): 112x112 RGB crops aligned on
the ArcFace template in, L2-normalised vectors out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.models.align import CROP_SIZE
from pipeline.models.batch_shapes import pad_batch
from pipeline.models.protocols import TEMPLATE_ALIGNMENT


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def normalized_blob(crops: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB crops -> (N, 3, H, W) float32 (x - mean) / std, the networks' input."""
    return (np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) - mean) / std


class OpenCVSFaceEmbedder:
    """OpenCV's FaceRecognizerSF (int8 graph, one face at a time, CPU)."""

    device, crop_size, alignment, device_input = "cpu", CROP_SIZE, TEMPLATE_ALIGNMENT, False

    def __init__(self, model_path: Path, model_id: str, dim: int):
        self.model_id, self.dim = model_id, dim
        self._net = cv2.FaceRecognizerSF.create(str(model_path), "")

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB -> (N, D) unit vectors."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        # feature() expects BGR and swaps to RGB itself before the network.
        features = [self._net.feature(np.ascontiguousarray(crop[:, :, ::-1])).reshape(-1) for crop in crops]
        return l2_normalize(np.stack(features))


class OnnxRuntimeEmbedder:
    """A float ONNX embedder run by onnxruntime in batches (CPU, or CUDA when its provider exists).

    The network sees (x - mean) / std of the RGB crop in NCHW float32.
    """

    crop_size, alignment, device_input = CROP_SIZE, TEMPLATE_ALIGNMENT, False

    def __init__(
        self, model: bytes | Path, model_id: str, device: str, threads: int = 1, mean: float = 0.0, std: float = 1.0
    ):
        from pipeline.models.detectors import onnxruntime_session

        self._session = onnxruntime_session(model, device, threads)
        self._input = self._session.get_inputs()[0].name
        self._one_at_a_time = self._session.get_inputs()[0].shape[0] == 1  # graphs exported with batch 1
        self.model_id, self.device, self.mean, self.std = model_id, device, mean, std
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB -> (N, D) unit vectors."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        blob = normalized_blob(crops, self.mean, self.std)
        if self._one_at_a_time:
            out = np.concatenate([self._session.run(None, {self._input: blob[i : i + 1]})[0] for i in range(len(blob))])
        else:
            out = self._session.run(None, {self._input: blob})[0]
        return l2_normalize(out.reshape(len(crops), -1))


class OpenVinoEmbedder:
    """A float ONNX embedder compiled by OpenVINO for the CPU, float32 (exactly the ONNX results),
    batched. Crops are NCHW float32 (x - mean) / std of the RGB pixels."""

    device, crop_size, alignment, device_input = "cpu", CROP_SIZE, TEMPLATE_ALIGNMENT, False

    def __init__(self, model_bytes: bytes, model_id: str, threads: int = 1, mean: float = 0.0, std: float = 1.0):
        from pipeline.models.openvino_engine import compile_for_cpu

        self._compiled = compile_for_cpu(model_bytes, [-1, 3, 112, 112], threads)
        self.model_id, self.mean, self.std = model_id, mean, std
        self.dim = int(self._compiled.outputs[0].get_partial_shape()[-1].get_length())

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) uint8 RGB -> (N, D) unit vectors."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        blob = normalized_blob(crops, self.mean, self.std)
        return l2_normalize(self._compiled(blob)[0].reshape(len(crops), -1))


class TorchEmbedder:
    """An embedder network as a torch module: float32 on CPU, float16 on CUDA; the module that
    training fine-tunes. Takes crops as numpy (N, 112, 112, 3) uint8 or a torch (N, 3, 112, 112)
    tensor already on the device. ``threads``: torch's CPU threads (a process-wide setting)."""

    crop_size, alignment, device_input = CROP_SIZE, TEMPLATE_ALIGNMENT, True

    def __init__(
        self, network, model_id: str, dim: int, device: str, threads: int = 1, mean: float = 0.0, std: float = 1.0
    ):
        import torch

        torch.set_num_threads(max(1, threads))

        self.model_id, self.dim, self.device, self.mean, self.std = model_id, dim, device, mean, std
        self.dtype = torch.float16 if device == "cuda" else torch.float32
        self.network = network.to(device=device, dtype=self.dtype).eval()

    def __call__(self, crops) -> np.ndarray:
        import torch

        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            if isinstance(crops, np.ndarray):
                crops = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2)
            batch = (crops.to(self.dtype) - self.mean) / self.std
            n = len(batch)
            if self.device == "cuda":  # few distinct shapes for cuDNN's plan cache
                batch = pad_batch(batch)
            out = self.network(batch)[0][:n].float()
            return l2_normalize(out.reshape(n, -1).cpu().numpy())
