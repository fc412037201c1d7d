"""1:1 verification against a threshold."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.recognize.photos import verify


def test_verify_compares_the_similarity_with_the_threshold() -> None:
    a = np.array([1.0, 0.0], np.float32)
    b = np.array([0.6, 0.8], np.float32)
    assert verify(a, b, 0.5).same and not verify(a, b, 0.7).same
    assert verify(a, b, 0.5).similarity == pytest.approx(0.6)
