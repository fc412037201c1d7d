"""Names of every table facepipe writes, their columns, Arrow types, status values and error reasons."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# Tables at DST (read any of them with pipeline.io.tables.read_table(DST, name)).
IMAGES_TABLE = "images"
FACES_TABLE = "faces"
CLUSTERS_TABLE = "clusters"
PERSONS_TABLE = "persons"
METADATA_FOLDER = "_facepipe"  # JSON beside the tables: resolved config, model ids, run summaries

# Commit metadata: the version of a companion table a commit is consistent with.
FACES_VERSION_KEY = "facepipe.faces_version"
CLUSTERS_VERSION_KEY = "facepipe.clusters_version"
CLUSTERING_KEY = "facepipe.clustering"  # persons commits: how the clustering was made (JSON: method, merge rule)

# Status of a photo in the images table.
STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_ERROR = "error"

# Error reasons: the images table's ERROR is "<reason>: <message>".
READ_FAILED = "read_failed"  # transient: a rerun tries the photo again
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
DECODE_FAILED = "decode_failed"
TOO_LARGE = "too_large"

# images table
IMAGE_ID = "image_id"
URI = "uri"
STATUS = "status"
ERROR = "error"
NUM_FACES = "num_faces"
WIDTH = "width"
HEIGHT = "height"
SIZE = "size"
MTIME = "mtime"
ETAG = "etag"
RUN_ID = "run_id"
PROCESSED_AT = "processed_at"

# faces table (plus IMAGE_ID, URI, RUN_ID)
FACE_ID = "face_id"
FACE_INDEX = "face_index"
BBOX = "bbox"
LANDMARKS = "landmarks"
DET_SCORE = "det_score"
EMBEDDING = "embedding"
MODEL = "model"
DETECTOR = "detector"

# Columns that travel between pipeline stages only (never written).
BYTES = "bytes"
PIXELS = "pixels"
PIXELS_WIDTH = "pixels_width"
PIXELS_HEIGHT = "pixels_height"
FACES = "faces"

# Stages timed inside the pipeline, and the column that carries each photo's share of their seconds.
STAGES = ("read", "decode", "detect", "align", "embed")
SECONDS = "seconds"
SECONDS_TYPE = pa.struct([pa.field(stage, pa.float64()) for stage in STAGES])

TIMESTAMP = pa.timestamp("us", tz="UTC")

LISTING_SCHEMA = pa.schema(
    [
        pa.field(URI, pa.string(), nullable=False),
        pa.field(SIZE, pa.int64()),
        pa.field(MTIME, TIMESTAMP),
        pa.field(ETAG, pa.string()),
    ]
)

READ_SCHEMA = pa.schema(
    [
        pa.field(URI, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(ERROR, pa.string()),
        pa.field(BYTES, pa.large_binary()),
        pa.field(SECONDS, SECONDS_TYPE),
    ]
)

# Decoded photos: PIXELS holds PIXELS_HEIGHT x PIXELS_WIDTH x 3 uint8 RGB bytes (empty when STATUS
# is error); WIDTH x HEIGHT is the full upright size, larger when a JPEG was decoded at a reduced
# scale, in which case BYTES keeps the file for faces that need full resolution.
DECODED_SCHEMA = pa.schema(
    [
        pa.field(URI, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(STATUS, pa.string()),
        pa.field(ERROR, pa.string()),
        pa.field(WIDTH, pa.int32()),
        pa.field(HEIGHT, pa.int32()),
        pa.field(PIXELS_WIDTH, pa.int32()),
        pa.field(PIXELS_HEIGHT, pa.int32()),
        pa.field(PIXELS, pa.large_binary()),
        pa.field(BYTES, pa.large_binary()),
        pa.field(SECONDS, SECONDS_TYPE),
    ]
)

IMAGES_SCHEMA = pa.schema(
    [
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(STATUS, pa.string()),
        pa.field(ERROR, pa.string()),
        pa.field(NUM_FACES, pa.int32()),
        pa.field(WIDTH, pa.int32()),
        pa.field(HEIGHT, pa.int32()),
        pa.field(SIZE, pa.int64()),
        pa.field(MTIME, TIMESTAMP),
        pa.field(ETAG, pa.string()),
        pa.field(RUN_ID, pa.string()),
        pa.field(PROCESSED_AT, TIMESTAMP),
    ]
)


def face_struct_type(dim: int) -> pa.StructType:
    """The per-face fields a stage emits inside the nested FACES column of a photo row."""
    return pa.struct(
        [
            pa.field(BBOX, pa.list_(pa.float32(), 4)),
            pa.field(LANDMARKS, pa.list_(pa.float32(), 10)),
            pa.field(DET_SCORE, pa.float32()),
            pa.field(EMBEDDING, pa.list_(pa.float32(), dim)),
        ]
    )


def faces_schema(dim: int) -> pa.Schema:
    """Schema of the faces table for embeddings of dimension ``dim``."""
    return pa.schema(
        [
            pa.field(FACE_ID, pa.string()),
            pa.field(IMAGE_ID, pa.string()),
            pa.field(URI, pa.string()),
            pa.field(FACE_INDEX, pa.int32()),
            pa.field(BBOX, pa.list_(pa.float32(), 4)),
            pa.field(LANDMARKS, pa.list_(pa.float32(), 10)),
            pa.field(DET_SCORE, pa.float32()),
            pa.field(EMBEDDING, pa.list_(pa.float32(), dim)),
            pa.field(MODEL, pa.string()),
            pa.field(DETECTOR, pa.string()),
            pa.field(RUN_ID, pa.string()),
        ]
    )


def analyzed_schema(dim: int) -> pa.Schema:
    """Schema of the per-photo rows that leave the model stage (outcome + nested faces)."""
    return pa.schema(
        [
            pa.field(URI, pa.string()),
            pa.field(IMAGE_ID, pa.string()),
            pa.field(STATUS, pa.string()),
            pa.field(ERROR, pa.string()),
            pa.field(WIDTH, pa.int32()),
            pa.field(HEIGHT, pa.int32()),
            pa.field(FACES, pa.list_(face_struct_type(dim))),
            pa.field(SECONDS, SECONDS_TYPE),
        ]
    )


# clusters table: one row per clustered face (plus FACE_ID, IMAGE_ID, URI, RUN_ID)
CLUSTER_ID = "cluster_id"
CONFIDENCE = "confidence"
NOISE_CLUSTER = -1  # a face in no cluster (and, in labels, an item of no group)

CLUSTERS_SCHEMA = pa.schema(
    [
        pa.field(FACE_ID, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(CLUSTER_ID, pa.int64()),
        pa.field(CONFIDENCE, pa.float32()),
        pa.field(RUN_ID, pa.string()),
    ]
)

# persons table: one row per cluster
SIZE_FACES = "size"
REPRESENTATIVES = "representative_face_ids"
COVER_FACE = "cover_face_id"
COVER_URI = "cover_uri"
COVER_BBOX = "cover_bbox"

PERSONS_SCHEMA = pa.schema(
    [
        pa.field(CLUSTER_ID, pa.int64()),
        pa.field(SIZE_FACES, pa.int64()),
        pa.field(REPRESENTATIVES, pa.list_(pa.string())),
        pa.field(COVER_FACE, pa.string()),
        pa.field(COVER_URI, pa.string()),
        pa.field(COVER_BBOX, pa.list_(pa.float32(), 4)),
        pa.field(RUN_ID, pa.string()),
    ]
)


# A gallery's enrollments (recognize.gallery): one row per enrolled photo (plus EMBEDDING)
NAME = "name"
PHOTO = "photo"
ENROLLED_AT = "enrolled_at"


def matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The (rows, width) numpy array of a list column of equal-length rows (EMBEDDING, BBOX,
    LANDMARKS); (0, 0) for an empty column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
