"""Batches padded to a few sizes, so that a GPU sees few distinct input shapes.

cuDNN builds an execution plan for every new input shape; when the number of faces (or of photos of
one size) changes from batch to batch, that planning costs more than the inference. Padding the
batch dimension to the next power of two bounds the shapes to about log2(largest batch)."""

from __future__ import annotations


def bucket(n: int) -> int:
    """The smallest power of two >= n (n >= 1)."""
    return 1 << max(0, n - 1).bit_length()


def pad_batch(batch):
    """A torch batch (N, ...) with zero rows appended up to bucket(N); take ``[:N]`` of the results."""
    import torch

    missing = bucket(len(batch)) - len(batch)
    if not missing:
        return batch
    return torch.cat([batch, batch.new_zeros((missing, *batch.shape[1:]))])
