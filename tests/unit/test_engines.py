"""The torch and onnxruntime engines against OpenCV's reference on real photos (CPU float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.engine_equivalence import compare, opencv_reference
from pipeline.align import align_faces, align_faces_torch
from pipeline.config import ConfigError, ModelsConfig
from pipeline.models import DETECTORS, create_detector, float_graph, packaged_model_file, resolve_engine


def test_folded_graphs_take_only_the_photo_and_any_batch():
    for name in ("yunet", "sface"):
        graph = float_graph(packaged_model_file(name)).graph
        assert len(graph.input) == 1
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert not any(node.op_type == "DequantizeLinear" for node in graph.node)


def test_engines_match_opencv_on_lfw(lfw_images):
    photos = sorted(lfw_images.glob("*/*.jpg"))[::200][:60]
    figures = compare(photos, "cpu", opencv_reference(photos), batch=16)
    assert figures["photos_with_other_face_count"] == 0
    assert figures["box_iou_min"] >= 0.95
    assert figures["landmark_error_px_mean"] < 1.0
    assert figures["embedding_cosine_min_torch"] >= 0.999
    assert figures["embedding_cosine_min_onnxruntime"] >= 0.999
    assert figures["embedding_cosine_min_openvino"] >= 0.999


def test_batched_torch_detector_does_not_depend_on_its_batch_mates(lfw_images):
    detector = create_detector(ModelsConfig(detector_engine="torch"))
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(lfw_images.glob("C*/*.jpg"))[:6]]
    large = np.asarray(Image.fromarray(photos[0]).resize((900, 700)))
    alone = [detector([photo])[0] for photo in photos]
    mixed = detector([large, *photos])[1:]
    for a, b in zip(alone, mixed):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_alignment_on_the_device_matches_warp_affine(lfw_images):
    detector = create_detector(ModelsConfig())
    for path in sorted(lfw_images.glob("D*/*.jpg"))[:20]:
        image = np.asarray(Image.open(path).convert("RGB"))
        found = detector.detect(image)
        expected = align_faces(image, found.landmarks).astype(np.float64)
        crops = align_faces_torch(
            torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float(), np.zeros(len(found), int), found.landmarks
        )
        got = crops.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
        assert np.abs(got - expected).mean() < 1.0, path


def test_engine_choice_is_checked_against_model_and_device():
    spec = DETECTORS["yunet"]
    assert resolve_engine(spec, "auto", "cpu", "models.detector_engine") == spec.cpu_engine
    assert resolve_engine(spec, "auto", "cuda", "models.detector_engine") == "torch"
    with pytest.raises(ConfigError, match="models.detector_engine=onnxruntime cannot run"):
        resolve_engine(spec, "onnxruntime", "cpu", "models.detector_engine")
    with pytest.raises(ConfigError, match="set models.device=cpu"):
        resolve_engine(spec, "opencv", "cuda", "models.detector_engine")


def test_torch_device_path_finds_the_same_faces_as_opencv(lfw_images):
    from pipeline.analyze import AnalyzeFaces

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(lfw_images.glob("E*/*.jpg"))[:12]]
    photos.append(np.asarray(Image.fromarray(photos[0]).resize((300, 260))))  # a second shape group
    reference = AnalyzeFaces(ModelsConfig(detector_engine="opencv", embedder_engine="opencv")).faces_of(photos)
    on_device = AnalyzeFaces(ModelsConfig(detector_engine="torch", embedder_engine="torch"))
    assert on_device.on_device
    got = on_device.faces_of(photos)
    for expected, faces in zip(reference, got):
        assert len(expected) == len(faces)
        for a, b in zip(expected, faces):
            np.testing.assert_allclose(a["bbox"], b["bbox"], atol=0.5)
            assert float(np.dot(a["embedding"], b["embedding"])) > 0.995
