"""A static HTML page to review what `facepipe dedup` found: each group of copies side by side, the keeper
marked and why, then the similar stacks kept apart; it opens in a browser without a server."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass

import pyarrow.compute as pc
from PIL import Image

from pipeline import schema as S
from pipeline.config import Config, load_config
from pipeline.ingest.chain import PhotoChain
from pipeline.ingest.decode import Decoded
from pipeline.ingest.thumbnails import PAGE_STYLE, link, photo_thumbnail_name, write_thumbnail
from pipeline.io import store
from pipeline.io.tables import TablesSnapshot
from pipeline.results import JobResult

log = logging.getLogger(__name__)

THUMB_SIDE = 200  # longest side of a whole-photo thumbnail
# what the images table says about a photo, shown beside it when the table is there
PHOTO_FACTS = (S.WIDTH, S.HEIGHT, S.SIZE, S.FORMAT, S.JPEG_QUALITY, S.GREYSCALE, S.CAPTURED_AT, S.CAMERA)

STYLE = (
    PAGE_STYLE
    + """
nav a { margin-right: 1em; } .members { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-start; }
figure.member { position: relative; margin: 0; width: 208px; padding: 4px; border: 3px solid #ddd;
  border-radius: 6px; font-size: .8em; }
figure.keep { border-color: #1e8a3a; background: #f0faf2; }
.badge { position: absolute; top: 8px; left: 8px; background: #1e8a3a; color: #fff; padding: 1px 6px;
  border-radius: 3px; font-weight: bold; }
figure a { text-decoration: none; } figure img { display: block; margin: 0 auto 4px; border-radius: 3px; }
.placeholder { height: 150px; margin-bottom: 4px; background: #eee; color: #a33; display: flex;
  align-items: center; justify-content: center; text-align: center; overflow-wrap: anywhere; }
.name { font-weight: 600; overflow-wrap: anywhere; } dl.evidence { margin: .3em 0 0; color: #444; }
dl.evidence dt { display: inline; font-weight: 600; }
dl.evidence dd { display: inline; margin: 0 0 0 .3em; overflow-wrap: anywhere; }
dl.evidence dd::after { content: ""; display: block; }
"""
)


@dataclass(frozen=True)
class _Shown:
    """A photo as the page shows it: its thumbnail's path and size, and the photo's upright pixel size;
    or, when it could not be read, why."""

    source: str | None = None
    size: tuple[int, int] | None = None
    pixels: tuple[int, int] | None = None
    failure: str | None = None


@dataclass(frozen=True)
class ReviewResult(JobResult):
    """What the review page shows: groups and similar stacks (all, and shown), duplicates and the bytes
    they take, photos shown (and of those unreadable), and the page's uri."""

    groups: int
    groups_shown: int
    duplicates: int
    bytes_reclaimable: int
    similar_stacks: int
    similar_stacks_shown: int
    photos: int
    unreadable: int
    page: str


def review_duplicates(
    tables: str, output: str, config: Config | None = None, *, max_groups: int = 500, library: str | None = None
) -> ReviewResult:
    """Write OUTPUT/index.html and OUTPUT/thumbs/ reviewing the duplicates and similar tables at ``tables``:
    the ``max_groups`` groups of copies reclaiming most bytes (then the largest), each member's thumbnail
    and facts, the keeper marked, the evidence; then the ``max_groups`` largest similar stacks. ``library``:
    the groups and stacks holding a photo of that library (within it, or across a circle it is in, whose
    copies its owners share); needed in a store of several libraries. Returns the counts. Reads the
    library, writes only under ``output``: no lease."""
    config = config or load_config()
    storage = config.resolved_storage()
    snapshot = TablesSnapshot(tables, storage)
    if library is None:
        snapshot.one_library()  # the page shows every group: of one owner's photos only
    groups = _of_library(_by_group(snapshot.read(S.DUPLICATES_TABLE).to_pylist()), library)
    stacks = _of_library(_by_group(snapshot.read(S.SIMILAR_TABLE).to_pylist()), library)
    ranked = sorted(groups.items(), key=lambda item: (-_reclaimable(item[1]), -len(item[1]), item[0]))
    shown_groups = ranked[:max_groups]
    shown_stacks = sorted(stacks.items(), key=lambda item: (-len(item[1]), item[0]))[:max_groups]
    uris = sorted({row[S.URI] for _, rows in shown_groups + shown_stacks for row in rows})
    facts = _photo_facts(snapshot, uris)
    shown = _write_thumbnails(uris, output, config)
    totals = {
        "groups": len(groups),
        "groups_shown": len(shown_groups),
        "duplicates": sum(row[S.ROLE] == S.ROLE_DUPLICATE for rows in groups.values() for row in rows),
        "bytes_reclaimable": sum(_reclaimable(rows) for rows in groups.values()),
        "similar_stacks": len(stacks),
        "similar_stacks_shown": len(shown_stacks),
        "photos": len(uris),
        "unreadable": sum(1 for photo in shown.values() if photo.failure),
    }
    page = _page(totals, shown_groups, shown_stacks, shown, facts)
    store.write_text(store.join(output, "index.html"), page, storage)
    return ReviewResult(**totals, page=store.join(output, "index.html"))


def human_bytes(count: int | None) -> str:
    """A byte count as people read it (decimal units: 980 bytes, 14.2 kB, 3.1 MB)."""
    if count is None:
        return "size unknown"
    if count < 1000:
        return f"{count} bytes"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _of_library(groups: dict[str, list[dict]], library: str | None) -> dict[str, list[dict]]:
    """The groups holding a photo of ``library`` (all of them for None)."""
    return {key: rows for key, rows in groups.items() if library is None or any(r[S.LIBRARY] == library for r in rows)}


def _by_group(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by group id, each group's keeper first, then the most alike."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[S.GROUP_ID], []).append(row)
    for members in groups.values():
        members.sort(key=lambda r: (r.get(S.ROLE) != S.ROLE_KEEP, -(r[S.SCORE] or 0.0), r[S.URI]))
    return groups


def _reclaimable(members: list[dict]) -> int:
    return sum(row[S.SIZE] or 0 for row in members if row[S.ROLE] == S.ROLE_DUPLICATE)


def _photo_facts(snapshot: TablesSnapshot, uris: list[str]) -> dict[str, dict]:
    """What the images table says about each photo (by uri); {} when there is no images table."""
    try:
        images = snapshot.table(S.IMAGES_TABLE)
    except FileNotFoundError:
        log.info("no images table at %s: the page shows what the duplicates table holds", snapshot.tables)
        return {}
    present = {field.name for field in images.schema().fields}
    rows = snapshot.read(S.IMAGES_TABLE, [S.URI, *(name for name in PHOTO_FACTS if name in present)])
    rows = rows.filter(pc.is_in(rows[S.URI], value_set=pc.cast(uris, rows.schema.field(S.URI).type)))
    return {row[S.URI]: row for row in rows.to_pylist()}


def _write_thumbnails(uris: list[str], output: str, config: Config) -> dict[str, _Shown]:
    """Decode each photo once (the photo chain's read and decode) and write its whole-photo thumbnail."""
    storage, shown = config.resolved_storage(), {}
    for uri, decoded in PhotoChain.of(config).decoded(uris, reduce_to=2 * THUMB_SIDE):
        if not isinstance(decoded, Decoded):
            log.warning("no thumbnail from %s (%s)", uri, decoded)
            shown[uri] = _Shown(failure=str(decoded))
            continue
        image = Image.fromarray(decoded.pixels)
        image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        source = write_thumbnail(output, photo_thumbnail_name(uri), image, storage)
        shown[uri] = _Shown(source, image.size, (decoded.width, decoded.height))
    return shown


def _evidence(text: str | None) -> str:
    """The evidence JSON as a list of key: value lines (whatever keys dedup wrote)."""
    if not text:
        return ""
    try:
        fields = json.loads(text)
    except ValueError:
        fields = text
    if not isinstance(fields, dict):
        fields = {"evidence": fields}
    shown = {str(key): value if isinstance(value, str) else json.dumps(value) for key, value in fields.items()}
    lines = "".join(f"<dt>{html.escape(key)}:</dt><dd>{html.escape(value)}</dd>" for key, value in shown.items())
    return f'<dl class="evidence">{lines}</dl>'


def _member(row: dict, photo: _Shown, facts: dict) -> str:
    """One photo of a group or stack: its thumbnail (or why there is none), its facts and evidence."""
    uri, role = row[S.URI], row.get(S.ROLE)
    keeper = role == S.ROLE_KEEP
    if photo.failure:
        picture = f'<div class="placeholder">cannot be read: {html.escape(photo.failure)}</div>'
    else:
        width, height = photo.size
        picture = f'<img src="{photo.source}" width="{width}" height="{height}" alt="{html.escape(uri)}">'
    size = row.get(S.SIZE) if row.get(S.SIZE) is not None else facts.get(S.SIZE)
    pixels = (facts.get(S.WIDTH), facts.get(S.HEIGHT)) if facts.get(S.WIDTH) else photo.pixels
    described = [
        f'<span class="bytes" title="{size} bytes">{human_bytes(size)}</span>',
        f"{pixels[0]}×{pixels[1]} px" if pixels else "",
        facts.get(S.FORMAT) or "",
        f"JPEG quality {facts[S.JPEG_QUALITY]}" if facts.get(S.JPEG_QUALITY) is not None else "",
        "greyscale" if facts.get(S.GREYSCALE) else "",
    ]
    taken = [
        f"taken {facts[S.CAPTURED_AT]:%Y-%m-%d %H:%M:%S}" if facts.get(S.CAPTURED_AT) else "",
        html.escape(facts.get(S.CAMERA) or ""),
    ]
    match = [role or "", row.get(S.KIND) or "", f"score {row[S.SCORE]:.3f}" if row[S.SCORE] is not None else ""]
    lines = [" · ".join(part for part in parts if part) for parts in (described, taken, match)]
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return (
        f'<figure class="member{" keep" if keeper else ""}" data-uri="{html.escape(uri)}" '
        f'data-role="{html.escape(role or "similar")}" data-bytes="{size if size is not None else ""}">'
        + ('<span class="badge">keeper</span>' if keeper else "")
        + f'<a href="{html.escape(link(uri))}" title="{html.escape(uri)}">{picture}</a><figcaption>'
        f'<div class="name">{html.escape(name)}</div>'
        + "".join(f"<div>{line}</div>" for line in lines if line)
        + f"{_evidence(row[S.EVIDENCE])}</figcaption></figure>"
    )


def _page(
    totals: dict,
    groups: list[tuple[str, list[dict]]],
    stacks: list[tuple[str, list[dict]]],
    shown: dict[str, _Shown],
    facts: dict[str, dict],
) -> str:
    unread = _Shown(failure="not read")

    def members(rows: list[dict]) -> str:
        return "".join(_member(row, shown.get(row[S.URI], unread), facts.get(row[S.URI], {})) for row in rows)

    sections, edited = [], []
    for group_id, rows in groups:
        kinds = ", ".join(dict.fromkeys(row[S.KIND] for row in rows if row[S.ROLE] == S.ROLE_DUPLICATE))
        reclaim = _reclaimable(rows)
        made = any(row[S.KIND] in S.EDIT_KINDS for row in rows if row[S.ROLE] == S.ROLE_DUPLICATE)
        (edited if made else sections).append(
            f'<section class="group{" edited" if made else ""}" id="group-{html.escape(group_id)}" '
            f'data-members="{len(rows)}" data-reclaimable="{reclaim}"><h2>Group {html.escape(group_id)}: '
            f"{len(rows)} photos ({kinds}), {human_bytes(reclaim)} reclaimable</h2>"
            f'<div class="members">{members(rows)}</div></section>'
        )
    stacked = [
        f'<section class="stack" id="stack-{html.escape(group_id)}" data-members="{len(rows)}">'
        f"<h2>Stack {html.escape(group_id)}: {len(rows)} photos</h2>"
        f'<div class="members">{members(rows)}</div></section>'
        for group_id, rows in stacks
    ]
    more = ""
    if totals["groups_shown"] < totals["groups"]:
        more = f'<p class="more">Showing {totals["groups_shown"]} of them: those reclaiming most.</p>'
    if totals["similar_stacks_shown"] < totals["similar_stacks"]:
        more += f'<p class="more">Showing the {totals["similar_stacks_shown"]} largest stacks of similar photos.</p>'
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>facepipe: duplicates</title>"
        f"<style>{STYLE}</style></head><body><h1>{totals['groups']} groups of duplicates</h1>"
        f'<p class="totals" data-groups="{totals["groups"]}" data-duplicates="{totals["duplicates"]}" '
        f'data-bytes="{totals["bytes_reclaimable"]}">{totals["duplicates"]} duplicates; removing them reclaims '
        f"{human_bytes(totals['bytes_reclaimable'])} ({totals['bytes_reclaimable']} bytes). "
        f"Stacks of similar photos, kept apart: {totals['similar_stacks']}.</p>{more}"
        '<nav><a href="#duplicates">Duplicates</a><a href="#edited">Edited copies</a>'
        '<a href="#similar">Similar photos</a></nav>'
        f'<h2 id="duplicates">Duplicates (the keeper is marked; the others are copies of it)</h2>{"".join(sections)}'
        f'<h2 id="edited">Edited copies: {len(edited)} groups with a crop, caption, screenshot, sticker or filter '
        "made of the keeper</h2><p>An edited copy may have been made on purpose: <code>dedup apply</code> leaves "
        "it in place unless given <code>--include-edits</code>.</p>"
        f"{''.join(edited)}"
        f'<h2 id="similar">Similar photos: {totals["similar_stacks"]} stacks, not duplicates — never removed</h2>'
        "<p>Photos taken moments apart (bursts) that differ: stacked together to browse, each one kept.</p>"
        f"{''.join(stacked)}</body></html>"
    )
