"""The packaged models' float graphs: folded once, kept on disk, checked when read back."""

from __future__ import annotations

import hashlib

from pipeline.models import catalog


def test_float_graph_is_kept_and_an_altered_copy_is_folded_again(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog.tempfile, "gettempdir", lambda: str(tmp_path))
    catalog.float_graph_bytes.cache_clear()
    kept = catalog._float_graph_file("yunet")
    assert not kept.exists()
    folded = catalog.float_graph_bytes("yunet")
    assert hashlib.sha256(folded).hexdigest() == catalog.DETECTORS["yunet"].float_sha256
    assert kept.read_bytes() == folded
    kept.write_bytes(folded[:-10] + b"0123456789")  # altered on disk
    catalog.float_graph_bytes.cache_clear()
    assert catalog.float_graph_bytes("yunet") == folded
    assert kept.read_bytes() == folded
    catalog.float_graph_bytes.cache_clear()
