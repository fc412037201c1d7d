"""Calibration, verification and the gallery (enroll, identify, remove, storage) on seeded vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.evaluate import open_set_metrics
from pipeline.recognize import Gallery, calibrate, save_calibration, threshold_for, verify
from pipeline.synthetic import face_like_embeddings


def _pairs(seed: int = 0, same: int = 2000, different: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0.6, 0.1, same), rng.normal(0.05, 0.1, different)])
    return scores, np.concatenate([np.ones(same, bool), np.zeros(different, bool)])


def test_calibrated_threshold_lets_through_at_most_the_target_share_of_impostors() -> None:
    similarity, same = _pairs()
    for far in (1e-2, 1e-3):
        result = calibrate(similarity, same, far)
        impostors = similarity[~same]
        assert np.mean(impostors >= result["threshold"]) <= far
        assert result["measured_far"] == pytest.approx(np.mean(impostors >= result["threshold"]))
        # the threshold is as low as the target allows: one impostor more would pass just below it
        assert np.mean(impostors >= np.sort(impostors)[::-1][int(far * len(impostors))]) > far
        assert result["tar"] == pytest.approx(np.mean(similarity[same] >= result["threshold"]))


def test_too_few_impostor_pairs_cannot_calibrate_a_small_far() -> None:
    similarity, same = _pairs(different=500)
    with pytest.raises(ConfigError, match="at least 1000"):
        calibrate(similarity, same, 1e-3)


def test_thresholds_are_stored_per_model_and_far_and_missing_ones_say_so(tmp_path: Path) -> None:
    config = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}"])
    with pytest.raises(ConfigError, match="no threshold calibrated at FAR 0.001.*facepipe calibrate"):
        threshold_for(config, "sface:model@abc")
    similarity, same = _pairs()
    save_calibration(config, "sface:model@abc", calibrate(similarity, same, 1e-3), source="synthetic")
    save_calibration(config, "sface:model@abc", calibrate(similarity, same, 1e-2), source="synthetic")
    assert threshold_for(config, "sface:model@abc") == calibrate(similarity, same, 1e-3)["threshold"]
    looser = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}", "recognize.far=0.01"])
    assert threshold_for(looser, "sface:model@abc") < threshold_for(config, "sface:model@abc")
    uncalibrated_far = load_config(None, [f"recognize.calibrations={tmp_path / 'cal'}", "recognize.far=0.1"])
    with pytest.raises(ConfigError, match=r"calibrated: 0.001, 0.01\)"):
        threshold_for(uncalibrated_far, "sface:model@abc")
    with pytest.raises(ConfigError, match="calibrated: none"):
        threshold_for(config, "sface:model@def")


def test_verify_compares_the_similarity_with_the_threshold() -> None:
    a = np.array([1.0, 0.0], np.float32)
    b = np.array([0.6, 0.8], np.float32)
    assert verify(a, b, 0.5).same and not verify(a, b, 0.7).same
    assert verify(a, b, 0.5).similarity == pytest.approx(0.6)


@pytest.fixture()
def people():
    data = face_like_embeddings(60, faces_per_identity=(6, 6), noise_faces=100, seed=4)
    return data.vectors, data.labels


def test_one_photo_per_person_identifies_their_other_photos_and_rejects_strangers(people) -> None:
    vectors, labels = people
    gallery = Gallery("model-a")
    firsts = {person: np.flatnonzero(labels == person)[0] for person in range(60)}
    for person, row in firsts.items():
        gallery.enroll(f"person{person}", [f"p{row}.jpg"], vectors[row][None])
    assert len(gallery.names) == 60
    probes = [i for i in range(len(labels)) if labels[i] >= 0 and i not in firsts.values()]
    strangers = np.flatnonzero(labels < 0)
    threshold = 0.4  # synthetic genuine pairs sit at 0.5-0.75, strangers at 0 +- 0.09 (128-d)
    found = gallery.identify(vectors[probes], threshold)
    assert np.mean([f.identity == f"person{labels[i]}" for f, i in zip(found, probes)]) > 0.97
    rejected = gallery.identify(vectors[strangers], threshold)
    assert all(r.identity is None and r.candidate is not None for r in rejected)
    assert all(r.similarity < threshold for r in rejected)


def test_more_photos_refine_the_template_and_removal_forgets(people, tmp_path: Path) -> None:
    vectors, labels = people
    rows = np.flatnonzero(labels == 0)
    gallery = Gallery("model-a")
    gallery.enroll("Anna", ["a1.jpg"], vectors[rows[:1]])
    gallery.enroll("Anna", ["a2.jpg", "a3.jpg"], vectors[rows[1:3]])
    gallery.enroll("Ben", ["b1.jpg"], vectors[np.flatnonzero(labels == 1)[:1]])
    names, templates = gallery.templates()
    mean = vectors[rows[:3]].mean(axis=0)
    np.testing.assert_allclose(templates[names.index("Anna")], mean / np.linalg.norm(mean), atol=1e-5)
    gallery.enroll("Anna", ["a4.jpg"], vectors[rows[3:4]], replace=True)
    assert gallery.enrollments.num_rows == 2
    config = load_config()
    gallery.save(str(tmp_path / "g"), config)
    loaded = Gallery.load(str(tmp_path / "g"), config, "model-a")
    assert loaded.names == ["Anna", "Ben"]
    assert loaded.identify(vectors[rows[4:5]], 0.3)[0].identity == "Anna"
    assert loaded.remove("Anna") == 1
    loaded.save(str(tmp_path / "g"), config)
    again = Gallery.load(str(tmp_path / "g"), config, "model-a")
    assert again.names == ["Ben"] and again.identify(vectors[rows[4:5]], 0.3)[0].identity is None
    with pytest.raises(ConfigError, match="enrolled with model model-a"):
        Gallery.load(str(tmp_path / "g"), config, "model-b")
    with pytest.raises(ConfigError, match="no gallery"):
        Gallery.load(str(tmp_path / "none"), config, "model-a")


def test_open_set_metrics_match_counting_by_hand() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.4, 0.35])
    correct = np.array([True, True, False, True, True])
    impostors = np.linspace(0.0, 0.5, 100)  # the top one is 0.5
    metrics = open_set_metrics(genuine, correct, impostors, fars=(0.01, 0.1))
    assert metrics["rank1"] == pytest.approx(0.8)
    # 1% of 100 impostors = 1 may pass: threshold just above the 2nd highest (0.4949...)
    assert metrics["measured_far_0.01"] == pytest.approx(0.01)
    assert metrics["dir_at_far_0.01"] == pytest.approx(2 / 5)  # 0.9, 0.8 correct and above
    assert metrics["measured_far_0.1"] == pytest.approx(0.1)
    assert metrics["dir_at_far_0.1"] == pytest.approx(2 / 5)  # 0.4 is below the 11th-highest impostor 0.449
