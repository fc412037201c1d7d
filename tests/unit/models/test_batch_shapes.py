"""Padding GPU batches to a few sizes leaves every real row's result unchanged."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.models.batch_shapes import bucket, pad_batch
from pipeline.models.catalog import float_graph
from pipeline.models.onnx_torch import OnnxModule


def test_buckets_are_the_next_power_of_two() -> None:
    assert [bucket(n) for n in (1, 2, 3, 4, 5, 31, 32, 33, 200)] == [1, 2, 4, 4, 8, 32, 32, 64, 256]
    assert len({bucket(n) for n in range(1, 257)}) == 9


def test_padded_rows_do_not_change_the_real_rows_embeddings() -> None:
    network = OnnxModule(float_graph("sface")).eval()
    crops = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (5, 3, 112, 112)).astype(np.float32))
    padded = pad_batch(crops)
    with torch.inference_mode():
        alone, within = network(crops)[0], network(padded)[0][:5]

    assert padded.shape[0] == 8 and torch.equal(padded[:5], crops) and not padded[5:].any()
    torch.testing.assert_close(within, alone, rtol=1e-4, atol=1e-4)
