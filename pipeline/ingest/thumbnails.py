"""What the static report pages (people, duplicates) share: thumbnail files, links to photos, the page style."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from pipeline.config import StorageConfig
from pipeline.io import store

THUMBS_FOLDER = "thumbs"  # beside index.html: the page links its thumbnails relatively, so it opens from disk

PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
h1 { font-size: 1.4em; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 1em 0; padding: .8em; }
section h2 { font-size: 1.1em; margin: 0 0 .5em; } .more { color: #666; font-size: .9em; }
"""


def link(uri: str) -> str:
    """A link a browser opens for a photo: its URI, or a file:// URI for a local path."""
    return uri if "://" in uri else Path(uri).resolve().as_uri()


def photo_thumbnail_name(uri: str) -> str:
    """The name of a whole photo's thumbnail (the duplicates review's): a hash of its uri, not its image_id,
    since exact copies share their image_id (the hash of their bytes)."""
    return hashlib.sha256(uri.encode()).hexdigest()[:24]


def write_thumbnail(output: str, name: str, image: Image.Image, storage: StorageConfig | None) -> str:
    """Write ``image`` as OUTPUT/thumbs/NAME.jpg; the path the page refers to it by (relative to OUTPUT)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    relative = f"{THUMBS_FOLDER}/{name}.jpg"
    store.write_bytes(store.join(output, relative), buffer.getvalue(), storage)
    return relative
