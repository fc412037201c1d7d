"""Readers of LFW pairs files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.io.readers import LfwPair, read_lfw_pairs


def test_read_lfw_pairs_assigns_folds_and_paths(tmp_path: Path) -> None:
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(
        "2\t1\nAaron_Eckhart\t1\t2\nAbel_Pacheco\t3\tZico\t12\nZico\t2\t3\nAna_Guevara\t1\tDean_Barker\t104\n"
    )
    assert read_lfw_pairs(pairs_file) == [
        LfwPair(0, True, "Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "Aaron_Eckhart/Aaron_Eckhart_0002.jpg"),
        LfwPair(0, False, "Abel_Pacheco/Abel_Pacheco_0003.jpg", "Zico/Zico_0012.jpg"),
        LfwPair(1, True, "Zico/Zico_0002.jpg", "Zico/Zico_0003.jpg"),
        LfwPair(1, False, "Ana_Guevara/Ana_Guevara_0001.jpg", "Dean_Barker/Dean_Barker_0104.jpg"),
    ]


def test_read_lfw_pairs_dev_file_is_one_fold(tmp_path: Path) -> None:
    pairs_file = tmp_path / "pairsDevTest.txt"
    pairs_file.write_text("2\nA\t1\t2\nB\t1\t3\nA\t1\tB\t2\nB\t2\tC\t1\n")
    pairs = read_lfw_pairs(pairs_file)
    assert [(p.fold, p.same) for p in pairs] == [(0, True), (0, True), (0, False), (0, False)]
    assert pairs[3].b == "C/C_0001.jpg"


@pytest.mark.parametrize(
    "text",
    ["1\t1\nA\t1\t2\n", "1\t1\nA\t1\tB\t2\nA\t1\t2\n", "1 2 3\n"],
    ids=["missing-line", "same-and-different-swapped", "bad-header"],
)
def test_read_lfw_pairs_rejects_malformed_files(tmp_path: Path, text: str) -> None:
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(text)
    with pytest.raises(ValueError):
        read_lfw_pairs(pairs_file)


def test_real_lfw_pairs_file_has_ten_folds_of_600(lfw_dir: Path) -> None:
    pairs = read_lfw_pairs(lfw_dir / "pairs.txt")
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert np.bincount([p.fold for p in pairs]).tolist() == [600] * 10
    assert all(sum(p.same for p in pairs if p.fold == k) == 300 for k in range(10))
    assert pairs[0] == LfwPair(0, True, "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg")
