"""A training checkpoint written and read back: the weights, the optimizer's moments, the step, the
seconds and the metrics records come back as they were; its pack loads as a model on its own."""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.models.packs import build_network, load_pack, pack_identity
from pipeline.train.checkpoint import PACK, Progress, read_checkpoint, write_checkpoint


def _trained(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    network = build_network("mobilefacenet")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    network(torch.rand(4, 3, 112, 112) * 255)[0].sum().backward()
    optimizer.step()
    return network, optimizer


def test_checkpoint_round_trip_restores_weights_optimizer_and_progress(tmp_path: Path):
    network, optimizer = _trained(0)
    records = [{"step": 0, "eval": {"auc": 0.6}}, {"step": 1, "loss": 0.19, "train_s": 0.4}]
    write_checkpoint(tmp_path, "mobilefacenet", network, optimizer, Progress(7, 12.5, records), {"steps": 7})

    fresh, fresh_optimizer = _trained(1)
    progress = read_checkpoint(tmp_path, fresh, fresh_optimizer)

    assert (progress.step, progress.train_s, progress.records) == (7, 12.5, records)
    for name, value in network.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    moments = optimizer.state_dict()["state"]
    restored = fresh_optimizer.state_dict()["state"]
    assert moments.keys() == restored.keys()
    assert all(torch.equal(moments[k]["exp_avg"], restored[k]["exp_avg"]) for k in moments)
    assert pack_identity(tmp_path / PACK)[0].startswith("mobilefacenet-pack@")
    packed = load_pack(tmp_path / PACK).eval()
    network.eval()
    pixels = torch.rand(2, 3, 112, 112) * 255
    assert torch.allclose(packed(pixels)[0], network(pixels)[0])
