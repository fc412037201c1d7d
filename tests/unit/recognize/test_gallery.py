"""One-shot enrolment and open-set identification against a gallery, on seeded synthetic faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.evaluate.synthetic import face_like_embeddings
from pipeline.recognize.gallery import Gallery


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
