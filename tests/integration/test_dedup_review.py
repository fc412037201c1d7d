"""The dedup review page on real LFW photos and copies made of them, checked in headless Chromium."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from PIL import Image

from pipeline import schema as S
from pipeline.config import load_config
from pipeline.dedup.review import review_duplicates
from pipeline.io.tables import read_table, write_dedup
from tests.browser import Browser

pytestmark = pytest.mark.timeout(300)

UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def library(lfw_images: Path, tmp_path_factory) -> dict:
    """Photos with copies (exact, resized and recompressed, cropped wide and tall, as PNG, one since deleted),
    three photos of one burst, and the duplicates and similar tables a dedup run would write about them."""
    root = tmp_path_factory.mktemp("dedup_review")
    photos = root / "photos"
    photos.mkdir()

    def lfw(person: str, index: int, name: str) -> Path:
        return Path(shutil.copy(lfw_images / person / f"{person}_{index:04d}.jpg", photos / name))

    blair = lfw("Tony_Blair", 1, "blair.jpg")
    shutil.copy(blair, photos / "blair copy.jpg")
    Image.open(blair).resize((125, 125), Image.Resampling.LANCZOS).save(photos / "blair_small.jpg", quality=60)
    Image.open(blair).crop((0, 60, 250, 190)).save(photos / "blair_wide.jpg", quality=90)
    powell = lfw("Colin_Powell", 1, "powell.jpg")
    Image.open(powell).save(photos / "powell.png")
    chirac = lfw("Jacques_Chirac", 1, "chirac.jpg")
    Image.open(chirac).crop((70, 0, 180, 250)).save(photos / "chirac_tall.jpg", quality=90)
    gone = shutil.copy(chirac, photos / "chirac_gone.jpg")
    gone_sha = _sha256(Path(gone))
    Path(gone).unlink()
    bursts = [lfw("George_W_Bush", i, f"bush_{i}.jpg") for i in (1, 2, 3)]

    keeper_evidence = {"keeper_order": ["pixels", "jpeg_quality", "size"], "pixels": 62500}
    groups = {  # group id -> (keeper, [(copy, kind, score, evidence)])
        "g-blair": (
            blair,
            [
                (photos / "blair copy.jpg", S.KIND_EXACT, 1.0, {"sha256": "equal"}),
                (photos / "blair_small.jpg", S.KIND_NEAR_DUPLICATE, 0.93, {"pdq_distance": 12, "variant": "resized"}),
                (photos / "blair_wide.jpg", S.KIND_NEAR_DUPLICATE, 0.81, {"pdq_distance": 30, "variant": "crop_75"}),
            ],
        ),
        "g-powell": (powell, [(photos / "powell.png", S.KIND_SAME_PIXELS, 1.0, {"pixel_sha256": "equal"})]),
        "g-chirac": (
            chirac,
            [
                (photos / "chirac_tall.jpg", S.KIND_NEAR_DUPLICATE, 0.78, {"variant": "crop_75"}),
                (photos / "chirac_gone.jpg", S.KIND_EXACT, 1.0, {"sha256": "equal"}),
            ],
        ),
    }
    sizes = {str(p): p.stat().st_size for p in photos.iterdir()}
    sizes[str(photos / "chirac_gone.jpg")] = sizes[str(chirac)]
    rows = []
    for group_id, (keeper, copies) in groups.items():
        kept = (keeper, copies[0][1], 1.0, keeper_evidence, S.ROLE_KEEP)
        for path, kind, score, evidence, role in [*((*c, S.ROLE_DUPLICATE) for c in copies), kept]:  # keeper last
            sha = _sha256(path) if path.exists() else gone_sha
            rows.append(
                {
                    S.GROUP_ID: group_id,
                    S.IMAGE_ID: sha,
                    S.URI: str(path),
                    S.KIND: kind,
                    S.ROLE: role,
                    S.SCORE: score,
                    S.EVIDENCE: json.dumps(evidence),
                    S.SIZE: sizes[str(path)],
                    S.SHA256: sha,
                    S.RUN_ID: "test",
                }
            )
    similar = [
        {
            S.GROUP_ID: "s-bush",
            S.IMAGE_ID: _sha256(path),
            S.URI: str(path),
            S.SCORE: 0.6,
            S.EVIDENCE: json.dumps({"seconds_apart": 2, "pdq_distance": 70}),
            S.RUN_ID: "test",
        }
        for path in bursts
    ]
    duplicates = pa.Table.from_pylist(rows, schema=S.DUPLICATES_SCHEMA)
    similar_table = pa.Table.from_pylist(similar, schema=S.SIMILAR_SCHEMA)
    dst = root / "tables"
    write_dedup(str(dst), duplicates, similar_table, None, 0, {})
    return {"root": root, "photos": photos, "dst": dst, "groups": groups, "sizes": sizes, "bursts": bursts}


class _Page(HTMLParser):
    """The sections (id, in order), and the figures of each with their attributes, text and image."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.figures: dict[str, list[dict]] = {}
        self._figure: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes["id"])
            self.figures[attributes["id"]] = []
        elif tag == "figure":
            self._figure = {**attributes, "text": "", "img": None}
            self.figures[self.sections[-1]].append(self._figure)
        elif tag == "img" and self._figure is not None:
            self._figure["img"] = attributes["src"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self._figure["text"] += data + " "


def _shown_bytes(text: str) -> float:
    value, unit = re.search(r"(\d+(?:\.\d+)?) (bytes|kB|MB)", text).groups()
    return float(value) * UNITS[unit]


def test_review_page_shows_each_group_with_its_keeper_in_a_browser(library: dict, tmp_path: Path) -> None:
    browser = Browser()
    sizes, groups = library["sizes"], library["groups"]
    reclaim = {g: sum(sizes[str(c[0])] for c in copies) for g, (_, copies) in groups.items()}
    output = tmp_path / "review"
    summary = review_duplicates(str(library["dst"]), str(output), load_config())
    assert summary.groups == summary.groups_shown == 3
    assert summary.duplicates == 6
    assert summary.bytes_reclaimable == sum(reclaim.values())
    assert summary.similar_stacks == 1
    assert summary.photos == 12 and summary.unreadable == 1

    dom = browser.dom(output.as_uri() + "/index.html")
    page = _Page(dom)
    assert "<h1>3 groups of duplicates</h1>" in dom
    assert f'data-bytes="{sum(reclaim.values())}"' in dom
    assert "never removed" in dom

    most_first = sorted(reclaim, key=lambda g: -reclaim[g])
    assert page.sections == [f"group-{g}" for g in most_first] + ["stack-s-bush"], "most bytes reclaimable first"
    for group_id, (keeper, copies) in groups.items():
        figures = page.figures[f"group-{group_id}"]
        assert {f["data-uri"] for f in figures} == {str(keeper), *(str(c[0]) for c in copies)}
        marked = [f for f in figures if "keep" in f["class"].split()]
        assert [f["data-uri"] for f in marked] == [str(keeper)], "the keeper is marked, and only the keeper"
        assert "keeper" in marked[0]["text"] and "keeper_order" in marked[0]["text"], "and why it won"
        for figure in figures:
            true_size = sizes[figure["data-uri"]]
            assert int(figure["data-bytes"]) == true_size
            assert abs(_shown_bytes(figure["text"]) - true_size) <= 0.01 * true_size, figure["text"]
            if Path(figure["data-uri"]).exists():
                width, height = Image.open(figure["data-uri"]).size
                assert f"{width}×{height}" in figure["text"]
    wide = next(f for f in page.figures["group-g-blair"] if f["data-uri"].endswith("blair_wide.jpg"))
    assert "near_duplicate" in wide["text"] and "0.810" in wide["text"] and "crop_75" in wide["text"]
    gone = next(f for f in page.figures["group-g-chirac"] if f["data-uri"].endswith("chirac_gone.jpg"))
    assert gone["img"] is None and "cannot be read" in gone["text"] and S.READ_FAILED in gone["text"]
    stack = page.figures["stack-s-bush"]
    assert [f["data-uri"] for f in stack] == [str(p) for p in library["bursts"]]
    assert not any("keep" in f["class"].split() for f in stack), "a similar stack has no keeper: nothing is removed"

    for figure in (f for figures in page.figures.values() for f in figures if f["img"]):
        thumbnail = output / figure["img"]
        assert thumbnail.is_file(), figure["img"]
        source_size, thumb_size = Image.open(figure["data-uri"]).size, Image.open(thumbnail).size
        assert max(thumb_size) == min(200, max(source_size)), (figure["data-uri"], thumb_size)
        assert abs(thumb_size[0] / thumb_size[1] - source_size[0] / source_size[1]) < 0.03 * (
            source_size[0] / source_size[1]
        ), "the whole photo, aspect kept"

    contrast = browser.top_half_contrast(output.as_uri() + "/index.html", tmp_path / "shot.png")
    assert contrast > 25, "the page shows pictures, not a blank or broken page"


def test_review_page_uses_the_images_table_and_keeps_the_groups_reclaiming_most(library: dict, tmp_path: Path) -> None:
    photos, dst = library["photos"], tmp_path / "tables"
    shutil.copytree(library["dst"], dst)
    taken = dt.datetime(2004, 5, 1, 12, 30, 5, tzinfo=dt.timezone.utc)
    rows = [
        {S.URI: str(photos / "blair_small.jpg"), S.WIDTH: 125, S.HEIGHT: 125, S.FORMAT: "JPEG", S.JPEG_QUALITY: 60},
        {S.URI: str(photos / "powell.png"), S.WIDTH: 250, S.HEIGHT: 250, S.FORMAT: "PNG", S.CAPTURED_AT: taken},
        {S.URI: str(photos / "powell.jpg"), S.FORMAT: "JPEG", S.CAMERA: "Canon EOS 10D", S.GREYSCALE: True},
    ]
    write_deltalake(str(dst / S.IMAGES_TABLE), pa.Table.from_pylist(rows, schema=S.IMAGES_SCHEMA))

    review_duplicates(str(dst), str(tmp_path / "all"), load_config())
    figures = {
        f["data-uri"]: f["text"]
        for fs in _Page((tmp_path / "all" / "index.html").read_text()).figures.values()
        for f in fs
    }
    assert "JPEG quality 60" in figures[str(photos / "blair_small.jpg")]
    assert (
        "PNG" in figures[str(photos / "powell.png")]
        and "taken 2004-05-01 12:30:05" in figures[str(photos / "powell.png")]
    )
    assert "Canon EOS 10D" in figures[str(photos / "powell.jpg")] and "greyscale" in figures[str(photos / "powell.jpg")]
    assert "JPEG quality" not in figures[str(photos / "blair.jpg")], (
        "a photo the images table does not know: no guesses"
    )

    summary = review_duplicates(str(dst), str(tmp_path / "top"), load_config(), max_groups=1)
    assert summary.groups == 3 and summary.groups_shown == 1
    page = (tmp_path / "top" / "index.html").read_text()
    reclaim = {g: sum(library["sizes"][str(c[0])] for c in copies) for g, (_, copies) in library["groups"].items()}
    assert _Page(page).sections == [f"group-{max(reclaim, key=reclaim.get)}", "stack-s-bush"]
    assert "<h1>3 groups of duplicates</h1>" in page and "Showing 1 of them" in page


def test_groups_with_edited_copies_are_shown_apart(library: dict, tmp_path: Path) -> None:
    dst = tmp_path / "tables"
    shutil.copytree(library["dst"], dst)
    rows = read_table(str(dst), S.DUPLICATES_TABLE).to_pylist()
    edited_group = next(row[S.GROUP_ID] for row in rows if row[S.ROLE] == S.ROLE_DUPLICATE)
    for row in rows:
        if row[S.GROUP_ID] == edited_group and row[S.ROLE] == S.ROLE_DUPLICATE:
            row[S.KIND] = S.KIND_CROP
    similar = read_table(str(dst), S.SIMILAR_TABLE)
    write_dedup(str(dst), pa.Table.from_pylist(rows, schema=S.DUPLICATES_SCHEMA), similar, None, 0, {})

    review_duplicates(str(dst), str(tmp_path / "page"), load_config())
    page = (tmp_path / "page" / "index.html").read_text()
    edited_at = page.index('id="edited"')
    assert page.index(f'id="group-{edited_group}"') > edited_at, "the group with a crop sits among the edited copies"
    others = {row[S.GROUP_ID] for row in rows} - {edited_group}
    assert all(page.index(f'id="group-{group}"') < edited_at for group in others)
    assert "--include-edits" in page
