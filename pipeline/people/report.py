"""A static HTML gallery of the people found by `facepipe cluster`: one page, face thumbnails per
person, sizes and links to the photos; it opens in a browser without a server."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
from PIL import Image

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.ingest.thumbnails import PAGE_STYLE, link, write_thumbnail
from pipeline.io import store
from pipeline.io.tables import TablesSnapshot
from pipeline.results import JobResult

log = logging.getLogger(__name__)

THUMB_SIDE = 112
MARGIN = 0.25  # context around the face box, as a fraction of its side

STYLE = (
    PAGE_STYLE
    + """
nav { display: flex; flex-wrap: wrap; } img { width: 112px; height: 112px; border-radius: 4px; }
nav a.person { margin: 0 .6em .6em 0; text-align: center; font-size: .8em; color: #222; text-decoration: none; }
.faces a { margin: 0 4px 4px 0; display: inline-block; }
"""
)


def _thumbnail(pixels: np.ndarray, bbox: list[float], scale: float) -> Image.Image:
    x1, y1, x2, y2 = (v / scale for v in bbox)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    box = [int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)]
    return Image.fromarray(pixels).crop(box).resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class ReportResult(JobResult):
    """What the people report shows: people, faces in no cluster, thumbnails written, the page's uri."""

    people: int
    noise_faces: int
    thumbnails: int
    page: str


def report(
    tables: str, output: str, config: Config | None = None, *, max_people: int = 200, faces_per_person: int = 24
) -> ReportResult:
    """Write OUTPUT/index.html and OUTPUT/thumbs/ for the ``max_people`` largest people at ``tables``
    (each with its ``faces_per_person`` most central faces), the count of faces in no cluster, and
    how the clustering was made (the merge rule chosen for the collection, and why). Reads the library,
    writes only under ``output``: no lease."""
    config = config or load_config()
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    clusters, persons = snapshot.read(S.CLUSTERS_TABLE), snapshot.read(S.PERSONS_TABLE)
    noise = int(np.sum(np.asarray(clusters[S.CLUSTER_ID]) == S.NOISE_CLUSTER))  # before keeping the people shown
    made = snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY)
    persons = persons.sort_by([(S.NUM_FACES, "descending"), (S.CLUSTER_ID, "ascending")]).slice(0, max_people)
    faces = snapshot.faces().read([S.FACE_ID, S.BBOX])
    box_of = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.BBOX].to_pylist()))
    shown: dict[int, list[dict]] = {}
    clusters = clusters.filter(pc.is_in(clusters[S.CLUSTER_ID], value_set=persons[S.CLUSTER_ID].combine_chunks()))
    for row in clusters.sort_by([(S.CLUSTER_ID, "ascending"), (S.CONFIDENCE, "descending")]).to_pylist():
        members = shown.setdefault(row[S.CLUSTER_ID], [])
        if len(members) < faces_per_person:
            members.append(row)
    by_photo: dict[str, list[str]] = {}
    for members in shown.values():
        for row in members:
            by_photo.setdefault(row[S.URI], []).append(row[S.FACE_ID])
    written = _write_thumbnails(by_photo, box_of, output, config)
    page = _page(persons.to_pylist(), shown, written, noise, made.get("merge_rule", {}).get("why"))
    store.write_text(store.join(output, "index.html"), page, storage)
    return ReportResult(
        people=persons.num_rows, noise_faces=noise, thumbnails=len(written), page=store.join(output, "index.html")
    )


def _write_thumbnails(by_photo: dict[str, list[str]], box_of: dict, output: str, config: Config) -> set[str]:
    """Decode each photo once (the photo chain's read and decode) and write its faces' thumbnails;
    the face ids written."""
    storage, written = config.resolved_storage(), set()
    for uri, decoded in PhotoChain.of(config).decoded(sorted(by_photo), reduce_to=4 * THUMB_SIDE):
        if not isinstance(decoded, Decoded):
            log.warning("no thumbnail from %s (%s)", uri, decoded)
            continue
        scale = decoded.width / decoded.pixels.shape[1]
        for face_id in by_photo[uri]:
            write_thumbnail(output, face_id, _thumbnail(decoded.pixels, box_of[face_id], scale), storage)
            written.add(face_id)
    return written


def _page(persons: list[dict], shown: dict[int, list[dict]], written: set[str], noise: int, why: str | None) -> str:
    def thumbnail(face_id: str) -> str:
        source = f"thumbs/{face_id}.jpg" if face_id in written else ""
        return f'<img src="{source}" alt="face {face_id[:8]}">'

    def image(face_id: str, uri: str, title: str) -> str:
        return f'<a href="{html.escape(link(uri))}" title="{html.escape(title)}">{thumbnail(face_id)}</a>'

    nav = "".join(
        f'<a class="person" href="#person-{p[S.CLUSTER_ID]}">{thumbnail(p[S.COVER_FACE])}'
        f"<br>person {p[S.CLUSTER_ID]} ({p[S.NUM_FACES]})</a>"
        for p in persons
    )
    sections = []
    for p in persons:
        members = shown.get(p[S.CLUSTER_ID], [])
        faces = "".join(
            image(m[S.FACE_ID], m[S.URI], f"{m[S.URI]} (confidence {m[S.CONFIDENCE]:.2f})") for m in members
        )
        more = p[S.NUM_FACES] - len(members)
        extra = f'<p class="more">and {more} more faces</p>' if more > 0 else ""
        sections.append(
            f'<section id="person-{p[S.CLUSTER_ID]}" data-size="{p[S.NUM_FACES]}"><h2>Person {p[S.CLUSTER_ID]}: '
            f'{p[S.NUM_FACES]} faces</h2><div class="faces">{faces}</div>{extra}</section>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>facepipe: people</title>"
        f"<style>{STYLE}</style></head><body><h1>{len(persons)} people</h1>"
        f"<p>{noise} faces belong to no one (seen once, or too unlike anyone).</p>"
        + (f'<p class="rule">How alike faces must be to be one person here: {html.escape(why)}.</p>' if why else "")
        + f"<nav>{nav}</nav>{''.join(sections)}</body></html>"
    )
