"""A static HTML gallery of the people found by `facepipe cluster`: one page, face thumbnails per
person, sizes and links to the photos; it opens in a browser without a server."""

from __future__ import annotations

import html
import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.ingest.thumbnails import PAGE_STYLE, link, write_thumbnail
from pipeline.io import store
from pipeline.io.tables import TablesSnapshot
from pipeline.io.tags_table import tags_in_force
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
    """What the people report shows: people (named ones among them), faces in no cluster, thumbnails
    written, the page's uri."""

    people: int
    named: int
    noise_faces: int
    thumbnails: int
    page: str


def report(
    tables: str,
    output: str,
    config: Config | None = None,
    *,
    max_people: int = 200,
    faces_per_person: int = 24,
    library: str | None = None,
) -> ReportResult:
    """Write OUTPUT/index.html and OUTPUT/thumbs/ for the ``max_people`` largest people at ``tables``
    (each with its ``faces_per_person`` most central faces, by the name people gave it and with the
    suggestions waiting for an answer), the count of faces in no cluster, and how the clustering was made
    (the merge rule chosen for the collection, and why). ``library``: what that library's owner may see,
    its own faces only, in each of its scopes (needed in a store of several libraries). Reads the library,
    writes only under ``output``: no lease."""
    config = config or load_config()
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    if library is None:
        snapshot.one_library()
    every = snapshot.read(S.CLUSTERS_TABLE)
    clusters = every if library is None else every.filter(pc.equal(every[S.LIBRARY], library))
    noise = int(np.sum(np.asarray(clusters[S.CLUSTER_ID]) == S.NOISE_CLUSTER))  # before keeping the people shown
    made = snapshot.details(S.PERSONS_TABLE, S.CLUSTERING_KEY)
    persons = snapshot.read(S.PERSONS_TABLE, [S.SCOPE, S.CLUSTER_ID, S.COVER_FACE]).to_pylist()
    covers = {(row[S.SCOPE], row[S.CLUSTER_ID]): row[S.COVER_FACE] for row in persons}
    people = _people(clusters, every, _names(snapshot), _waiting(snapshot, library), covers)[:max_people]
    faces = snapshot.faces(by_scope=True).read([S.FACE_ID, S.BBOX])
    box_of = dict(zip(faces[S.FACE_ID].to_pylist(), faces[S.BBOX].to_pylist()))
    shown = {person.key: person.members[:faces_per_person] for person in people}
    by_photo: dict[str, list[str]] = {}
    for members in shown.values():
        for row in members:
            by_photo.setdefault(row[S.URI], []).append(row[S.FACE_ID])
    written = _write_thumbnails(by_photo, box_of, output, config)
    scopes = len({person.key[0] for person in people}) > 1
    why = made.get("merge_rule", {}).get("why") if not made.get("scopes") or len(made["scopes"]) == 1 else None
    page = _page(people, shown, written, noise, why, scopes)
    store.write_text(store.join(output, "index.html"), page, storage)
    return ReportResult(
        people=len(people),
        named=sum(1 for person in people if person.name),
        noise_faces=noise,
        thumbnails=len(written),
        page=store.join(output, "index.html"),
    )


@dataclass(frozen=True)
class _Person:
    """A person shown: (scope, cluster id), the name people gave its faces (None: none), its faces shown
    (most central first), how many there are, the suggestions waiting ({name: faces}) and its cover."""

    key: tuple[str, int]
    name: str | None
    members: list[dict]
    size: int
    waiting: dict
    cover: str  # the face shown for the person: the clustering's cover when it is one of the faces shown


def _names(snapshot: TablesSnapshot) -> dict[str, str]:
    """face id -> the name people gave it (none before anyone tagged)."""
    return tags_in_force(snapshot.read(S.TAGS_TABLE)) if snapshot.version(S.TAGS_TABLE) is not None else {}


def _waiting(snapshot: TablesSnapshot, library: str | None) -> dict[tuple[str, str], str]:
    """(scope, face id) -> the name suggested and not yet answered, for ``library``'s faces (all: None)."""
    if snapshot.version(S.SUGGESTIONS_TABLE) is None:
        return {}
    rows = snapshot.read(S.SUGGESTIONS_TABLE, [S.SCOPE, S.FACE_ID, S.LIBRARY, S.NAME]).to_pylist()
    return {(r[S.SCOPE], r[S.FACE_ID]): r[S.NAME] for r in rows if library is None or r[S.LIBRARY] == library}


def _people(clusters: pa.Table, every: pa.Table, names: dict[str, str], waiting: dict, covers: dict) -> list[_Person]:
    """The people of ``clusters`` (the faces shown), largest first; each named by the most common name
    people gave the faces of its cluster in its scope (``every``: all the scope's faces, its shared
    libraries' too), its cover the clustering's (``covers``) when it is one of the faces shown."""
    given: dict[tuple[str, int], Counter] = {}
    for row in every.select([S.SCOPE, S.CLUSTER_ID, S.FACE_ID]).to_pylist():
        if row[S.CLUSTER_ID] != S.NOISE_CLUSTER and row[S.FACE_ID] in names:
            given.setdefault((row[S.SCOPE], row[S.CLUSTER_ID]), Counter())[names[row[S.FACE_ID]]] += 1
    members: dict[tuple[str, int], list[dict]] = {}
    for row in clusters.sort_by([(S.CONFIDENCE, "descending")]).to_pylist():
        if row[S.CLUSTER_ID] != S.NOISE_CLUSTER:
            members.setdefault((row[S.SCOPE], row[S.CLUSTER_ID]), []).append(row)
    people = []
    for key, rows in members.items():
        asked = Counter(waiting[(key[0], r[S.FACE_ID])] for r in rows if (key[0], r[S.FACE_ID]) in waiting)
        name = given[key].most_common(1)[0][0] if key in given else None
        own = {row[S.FACE_ID] for row in rows}
        cover = covers.get(key) if covers.get(key) in own else rows[0][S.FACE_ID]
        people.append(_Person(key, name, rows, len(rows), dict(asked.most_common()), cover))
    return sorted(people, key=lambda person: (-person.size, person.key))


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


def _page(people: list[_Person], shown: dict, written: set[str], noise: int, why: str | None, scopes: bool) -> str:
    def thumbnail(face_id: str) -> str:
        source = f"thumbs/{face_id}.jpg" if face_id in written else ""
        return f'<img src="{source}" alt="face {face_id[:8]}">'

    def image(face_id: str, uri: str, title: str) -> str:
        return f'<a href="{html.escape(link(uri))}" title="{html.escape(title)}">{thumbnail(face_id)}</a>'

    def anchor(person: _Person) -> str:
        return f"person-{person.key[0].replace('/', '-')}-{person.key[1]}" if scopes else f"person-{person.key[1]}"

    def title(person: _Person, unnamed: str) -> str:
        where = f" ({person.key[0]})" if scopes else ""
        return html.escape(person.name or f"{unnamed} {person.key[1]}") + where

    nav = "".join(
        f'<a class="person" href="#{anchor(p)}">{thumbnail(p.cover)}<br>{title(p, "person")} ({p.size})</a>'
        for p in people
    )
    sections = []
    for p in people:
        members = shown.get(p.key, [])
        faces = "".join(
            image(m[S.FACE_ID], m[S.URI], f"{m[S.URI]} (confidence {m[S.CONFIDENCE]:.2f})") for m in members
        )
        more = p.size - len(members)
        extra = f'<p class="more">and {more} more faces</p>' if more > 0 else ""
        asked = ", ".join(f"{html.escape(name)} on {count}" for name, count in p.waiting.items())
        waiting = f'<p class="waiting">Suggested, waiting for an answer: {asked}</p>' if asked else ""
        sections.append(
            f'<section id="{anchor(p)}" data-size="{p.size}"><h2>{title(p, "Person")}: {p.size} faces</h2>'
            f'{waiting}<div class="faces">{faces}</div>{extra}</section>'
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>facepipe: people</title>"
        f"<style>{STYLE}</style></head><body><h1>{len(people)} people</h1>"
        f"<p>{noise} faces belong to no one (seen once, or too unlike anyone).</p>"
        + (f'<p class="rule">How alike faces must be to be one person here: {html.escape(why)}.</p>' if why else "")
        + f"<nav>{nav}</nav>{''.join(sections)}</body></html>"
    )
