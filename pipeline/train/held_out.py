"""Verification figures of the network being trained on held-out labelled pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.io.readers import LfwPair
from pipeline.metrics.verification import roc_curve, verification_metrics
from pipeline.train.embedding import embed_crops


def held_out_metrics(
    network: torch.nn.Module, crops: dict[str, np.ndarray], pairs: list[LfwPair], images: str, device: torch.device
) -> dict:
    """Accuracy and VAL at FAR 1e-3 on held-out pairs (10-fold cross-validated thresholds within
    them; a pair with a faceless photo counts as an error), and the ROC's area (which moves before
    accuracy does early in training from scratch). ``crops``: aligned crop per photo uri; ``images``:
    the folder the pairs' relative paths start from."""
    uris = sorted(crops)
    vectors = dict(zip(uris, embed_crops(network, np.stack([crops[u] for u in uris]), device)))
    resolve = lambda rel: str((Path(images) / rel).resolve())
    similarity = np.array(
        [
            float(vectors[resolve(p.a)] @ vectors[resolve(p.b)])
            if resolve(p.a) in vectors and resolve(p.b) in vectors
            else np.nan
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    metrics = verification_metrics(similarity, same, np.arange(len(pairs)) % 10)
    far, tar, _ = roc_curve(similarity, same)
    auc = float(np.trapezoid(np.r_[0.0, tar, 1.0], np.r_[0.0, far, 1.0]))
    return {
        "accuracy": round(metrics["accuracy"], 4),
        "val_at_far_0.001": round(metrics["val_at_far_0.001"], 4),
        "auc": round(auc, 4),
        "pairs": len(pairs),
    }
