"""What `facepipe audit` costs on a store of many libraries: seconds, bytes read and peak memory of an audit for one
library, for one photo and for a library's embeddings. Synthetic: no photos are read.

    python -m benchmarks.audit_store [--faces 100000] [--library-faces 1000] [--commit-every 1000]

The store holds --faces faces in libraries of --library-faces (one face a photo, random 128-d embeddings), written
through the tables writer in commits of --commit-every photos as the embed commits them, then maintained as the
nightly does (compacted: the small files stay behind, unreferenced, until a vacuum; checkpointed), with a flat FAISS
index of every face beside it. Prints one JSON object: the store (files, MB) and per audit its exit code, files
found, seconds, MB/s and the memory it took (its peak resident memory above the process's before it; Linux).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.library_layout import DIM, write_store
from pipeline import schema as S
from pipeline.config import Config, StorageConfig
from pipeline.erasure.audit import audit
from pipeline.io import store
from pipeline.io.maintenance import maintain_tables
from pipeline.io.tables import read_table
from pipeline.search.index_settings import IndexSettings
from pipeline.search.vector_index import KEY, VectorIndex, batches_of


def write_index(dst: str) -> None:
    """A flat index of every face at DST/index, as `facepipe index` writes one."""
    faces = read_table(dst, S.FACES_TABLE)
    entries = faces.select([S.FACE_ID, S.URI]).rename_columns([KEY, S.URI])
    vectors = S.matrix(faces[S.EMBEDDING]).astype(np.float32)
    index = VectorIndex.build(batches_of(entries, vectors, 65_536), len(vectors), DIM, IndexSettings(kind="flat"))
    index.save(store.join(dst, "index"), StorageConfig())


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def timed_audit(dst: str, **sought) -> dict:
    """One audit: its exit code, files found, seconds, MB/s, and the memory it took above what this process held
    before it (its peak resident memory, reset first, less the resident memory before)."""
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident memory (VmHWM) to the current one
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    result = audit(dst, Config(), **sought)
    seconds = time.perf_counter() - started
    return {
        "exit_code": result.exit_code,
        "files_found": len(result.files_found),
        "seconds": round(seconds, 2),
        "mb_per_s": round(result.bytes_read / 1e6 / seconds, 1),
        "memory_mb": round(_status_mb("VmHWM") - before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000, help="faces in the store")
    parser.add_argument("--library-faces", type=int, default=1000, help="faces of each library")
    parser.add_argument("--commit-every", type=int, default=1000, help="photos a commit (output.commit_every)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = {f"owner{k:05d}": args.library_faces for k in range(args.faces // args.library_faces)}
    with tempfile.TemporaryDirectory(prefix="facepipe-audit-store-") as scratch:
        dst = str(Path(scratch) / "dst")
        started = time.perf_counter()
        write_store(dst, sizes, args.commit_every, 64, args.seed)
        maintain_tables(dst)
        write_index(dst)
        built = time.perf_counter() - started
        listed = store.list_files(dst, StorageConfig())
        library = sorted(sizes)[0]
        faces = read_table(dst, S.FACES_TABLE, library=library)
        figures = {
            "faces": sum(sizes.values()),
            "libraries": len(sizes),
            "library_faces": args.library_faces,
            "store": {"files": len(listed), "mb": round(sum(f.size for f in listed) / 1e6, 1)},
            "build_seconds": round(built, 1),
            "audit_library": timed_audit(dst, library=library),
            "audit_one_uri": timed_audit(dst, uris=[faces[S.URI][0].as_py()]),
            "audit_library_embeddings": timed_audit(dst, embeddings=S.matrix(faces[S.EMBEDDING]).astype(np.float32)),
            "audit_absent_library": timed_audit(dst, library="nobody"),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
