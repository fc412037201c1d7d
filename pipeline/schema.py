"""Names of every table facepipe writes, their columns, Arrow types, status values and error reasons."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from pipeline.errors import ConfigError

# Tables at DST (read any of them with pipeline.io.tables.read_table(DST, name)).
IMAGES_TABLE = "images"
FACES_TABLE = "faces"
CLUSTERS_TABLE = "clusters"
PERSONS_TABLE = "persons"
DUPLICATES_TABLE = "duplicates"
SIMILAR_TABLE = "similar"
TAGS_TABLE = "tags"
SUGGESTIONS_TABLE = "suggestions"
RUNS_TABLE = "runs"
CIRCLES_TABLE = "circles"
FORGOTTEN_TABLE = "forgotten"
LIBRARIES_TABLE = "libraries"
METADATA_FOLDER = "_facepipe"  # JSON beside the tables: resolved config, model ids, run summaries

# Commit metadata: the version of a companion table a commit is consistent with.
FACES_VERSION_KEY = "facepipe.faces_version"
CLUSTERS_VERSION_KEY = "facepipe.clusters_version"
SIMILAR_VERSION_KEY = "facepipe.similar_version"
IMAGES_VERSION_KEY = "facepipe.images_version"  # duplicates commits: the images version dedup compared
DEDUP_KEY = "facepipe.dedup"  # duplicates commits: the dedup settings and summary (JSON)
SUGGEST_KEY = "facepipe.suggest"  # suggestions commits: the run's settings, versions read and summary (JSON)
TAGS_VERSION_KEY = "facepipe.tags_version"  # suggestions commits: the tags version the names came from
CLUSTERING_KEY = "facepipe.clustering"  # persons commits: how the clustering was made (JSON: method, merge rule)

# Status of a photo in the images table.
STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_ERROR = "error"
STATUS_FACES_OFF = "faces_off"  # decoded and fingerprinted, no faces computed: its library opted out of faces

# Error reasons: the images table's ERROR is "<reason>: <message>".
READ_FAILED = "read_failed"  # transient: a rerun tries the photo again
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
DECODE_FAILED = "decode_failed"
TOO_LARGE = "too_large"

# images table
IMAGE_ID = "image_id"
URI = "uri"
# The library a photo belongs to (an owner's photos: `facepipe embed --library L`), in the images and faces
# tables. A uri belongs to one library. Rows written before libraries existed read as DEFAULT_LIBRARY.
LIBRARY = "library"
DEFAULT_LIBRARY = "default"
_ID = re.compile(r"[^\x00-\x1f\x7f/]{1,200}")  # a library's or a circle's id: no control character, no slash


def checked_id(name: str, what: str = "library") -> str:
    """``name`` when it is a valid id of a library or a circle (``what``); ConfigError saying why not."""
    if not _ID.fullmatch(name):
        raise ConfigError(f"{what} {name!r} is not a {what} id: 1-200 characters, no slash and no control character")
    return name


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

# images table: the fingerprints dedup needs, computed by the decode stage while it holds the photo
SHA256 = "sha256"  # of the file's bytes
PIXEL_SHA256 = "pixel_sha256"  # of the decoded upright RGB pixels (and the decode scale)
PDQ = "pdq"  # PDQ perceptual hash of the upright photo (32 bytes)
PDQ_QUALITY = "pdq_quality"  # PDQ's own 0-100 quality (low: flat photos whose hash says little)
PDQ_VARIANTS = "pdq_variants"  # PDQ hashes of the photo transformed as PDQ_VARIANT_NAMES say, in that order
CAPTURED_AT = "captured_at"  # EXIF DateTimeOriginal (+ SubSecTimeOriginal, OffsetTimeOriginal), UTC
CAMERA = "camera"  # EXIF make and model
FORMAT = "format"  # the container: JPEG, PNG, WEBP, ...
JPEG_QUALITY = "jpeg_quality"  # the JPEG quality its quantisation tables correspond to (libjpeg scale)
GREYSCALE = "greyscale"  # no colour in the pixels
CONTENT_FRACTION = "content_fraction"  # share of the area inside a uniform frame (1.0: no frame)
EXIF_FIELDS = "exif_fields"  # EXIF tags the file carries
KEYPOINTS = "keypoints"  # the strongest ORB keypoints, packed (pipeline.ingest.keypoints)
PDQ_VARIANT_NAMES = ("mirrored", "rotated_90", "rotated_180", "rotated_270", "crop_90", "crop_75", "unframed")
FINGERPRINTS = (
    SHA256,
    PIXEL_SHA256,
    PDQ,
    PDQ_QUALITY,
    PDQ_VARIANTS,
    CAPTURED_AT,
    CAMERA,
    FORMAT,
    JPEG_QUALITY,
    GREYSCALE,
    CONTENT_FRACTION,
    EXIF_FIELDS,
    KEYPOINTS,
)

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
FINGERPRINTS_COLUMN = "fingerprints"  # the photo's FINGERPRINTS as one struct (null when it could not be decoded)

# Stages timed inside the pipeline, and the column that carries each photo's share of their seconds.
STAGES = ("read", "decode", "fingerprints", "detect", "align", "embed")
SECONDS = "seconds"
SECONDS_TYPE = pa.struct([pa.field(stage, pa.float64()) for stage in STAGES])

TIMESTAMP = pa.timestamp("us", tz="UTC")

FINGERPRINT_FIELDS = [
    pa.field(SHA256, pa.string()),
    pa.field(PIXEL_SHA256, pa.string()),
    pa.field(PDQ, pa.binary()),
    pa.field(PDQ_QUALITY, pa.int32()),
    pa.field(PDQ_VARIANTS, pa.list_(pa.binary())),
    pa.field(CAPTURED_AT, TIMESTAMP),
    pa.field(CAMERA, pa.string()),
    pa.field(FORMAT, pa.string()),
    pa.field(JPEG_QUALITY, pa.int32()),
    pa.field(GREYSCALE, pa.bool_()),
    pa.field(CONTENT_FRACTION, pa.float32()),
    pa.field(EXIF_FIELDS, pa.int32()),
    pa.field(KEYPOINTS, pa.binary()),
]
FINGERPRINTS_TYPE = pa.struct(FINGERPRINT_FIELDS)

LISTING_SCHEMA = pa.schema(
    [
        pa.field(URI, pa.string(), nullable=False),
        pa.field(SIZE, pa.int64()),
        pa.field(MTIME, TIMESTAMP),
        pa.field(ETAG, pa.string()),
        pa.field(LIBRARY, pa.string()),  # null from a listing of SRC: the run names the library
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
        pa.field(FINGERPRINTS_COLUMN, FINGERPRINTS_TYPE),
        pa.field(SECONDS, SECONDS_TYPE),
    ]
)

IMAGES_SCHEMA = pa.schema(
    [
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(LIBRARY, pa.string()),
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
        *FINGERPRINT_FIELDS,
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
            pa.field(LIBRARY, pa.string()),
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
            pa.field(FINGERPRINTS_COLUMN, FINGERPRINTS_TYPE),
            pa.field(SECONDS, SECONDS_TYPE),
        ]
    )


# The scope a result was computed in (clusters and persons): a circle's libraries together, or one library
# in no circle. Written "circle/C" or "library/L" (ids hold no slash).
SCOPE = "scope"
DEFAULT_SCOPE = f"library/{DEFAULT_LIBRARY}"  # the scope of tables written before scopes: one library's

# clusters table: one row per clustered face in each of its scopes (plus FACE_ID, IMAGE_ID, URI, LIBRARY,
# RUN_ID): a face of a library in two circles is clustered in each
CLUSTER_ID = "cluster_id"
CONFIDENCE = "confidence"
NOISE_CLUSTER = -1  # a face in no cluster (and, in labels, an item of no group)

CLUSTERS_SCHEMA = pa.schema(
    [
        pa.field(SCOPE, pa.string()),
        pa.field(FACE_ID, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(LIBRARY, pa.string()),
        pa.field(CLUSTER_ID, pa.int64()),
        pa.field(CONFIDENCE, pa.float32()),
        pa.field(RUN_ID, pa.string()),
    ]
)

# persons table: one row per cluster
REPRESENTATIVES = "representative_face_ids"
COVER_FACE = "cover_face_id"
COVER_URI = "cover_uri"
COVER_BBOX = "cover_bbox"

PERSONS_SCHEMA = pa.schema(
    [
        pa.field(SCOPE, pa.string()),
        pa.field(CLUSTER_ID, pa.int64()),
        pa.field(NUM_FACES, pa.int64()),
        pa.field(REPRESENTATIVES, pa.list_(pa.string())),
        pa.field(COVER_FACE, pa.string()),
        pa.field(COVER_URI, pa.string()),
        pa.field(COVER_BBOX, pa.list_(pa.float32(), 4)),
        pa.field(RUN_ID, pa.string()),
    ]
)


# duplicates table: one row per photo in a group of copies (plus IMAGE_ID, URI, SIZE, SHA256, RUN_ID)
GROUP_ID = "group_id"
KIND = "kind"
ROLE = "role"
SCORE = "score"
EVIDENCE = "evidence"  # JSON: the fingerprints that agreed, and why the keeper won
KIND_EXACT = "exact"  # the same file bytes
KIND_SAME_PIXELS = "same_pixels"  # the same decoded pixels in another container or with other metadata
KIND_NEAR_DUPLICATE = "near_duplicate"  # resized, recompressed, cropped, framed, mirrored, recoloured
FILE_COPY_KINDS = (KIND_EXACT, KIND_SAME_PIXELS, KIND_NEAR_DUPLICATE)  # what a file tool makes: nothing is lost
# edited copies, as apps make them (pipeline.dedup.edits): what was done to the photo
KIND_CROP = "crop"  # a part of it (any place, any aspect)
KIND_ROTATED = "rotated"  # turned a little, and cropped straight
KIND_CAPTION = "caption"  # a bar of text added above or below
KIND_SCREENSHOT = "screenshot"  # shown in an app's frame
KIND_FIT = "fit"  # centred on a blurred, enlarged copy of itself
KIND_OVERLAY = "overlay"  # stickers, emoji or text drawn over it
KIND_FILTER = "filter"  # its colours or tones changed
KIND_STACKED = "stacked"  # several of these at once (the evidence lists them)
EDIT_KINDS = (KIND_CROP, KIND_ROTATED, KIND_CAPTION, KIND_SCREENSHOT, KIND_FIT, KIND_OVERLAY, KIND_FILTER, KIND_STACKED)
KINDS = (*FILE_COPY_KINDS, *EDIT_KINDS)  # strongest first
ROLE_KEEP = "keep"
ROLE_DUPLICATE = "duplicate"

DUPLICATES_SCHEMA = pa.schema(
    [
        pa.field(SCOPE, pa.string()),
        pa.field(GROUP_ID, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(LIBRARY, pa.string()),
        pa.field(KIND, pa.string()),
        pa.field(ROLE, pa.string()),
        pa.field(SCORE, pa.float32()),
        pa.field(EVIDENCE, pa.string()),
        pa.field(SIZE, pa.int64()),
        pa.field(SHA256, pa.string()),
        pa.field(RUN_ID, pa.string()),
    ]
)

# similar table: burst-like photos (taken moments apart, faces moved): stacked together, never removed
SIMILAR_SCHEMA = pa.schema(
    [
        pa.field(SCOPE, pa.string()),
        pa.field(GROUP_ID, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(LIBRARY, pa.string()),
        pa.field(SCORE, pa.float32()),
        pa.field(EVIDENCE, pa.string()),
        pa.field(RUN_ID, pa.string()),
    ]
)

# A gallery's enrollments (recognize.gallery): one row per enrolled photo (plus EMBEDDING)
NAME = "name"
PHOTO = "photo"
ENROLLED_AT = "enrolled_at"

# tags table: what people said of a face (plus FACE_ID, NAME): a tag, or their verdict on a suggestion
VERDICT = "verdict"
VERDICT_TAG = "tag"  # the person named the face
VERDICT_ACCEPTED = "accepted"  # a suggestion accepted: a tag
VERDICT_REJECTED = "rejected"  # a suggestion rejected: never suggested again, evidence against the name nearby
VERDICTS = (VERDICT_TAG, VERDICT_ACCEPTED, VERDICT_REJECTED)
SOURCE = "source"  # the file (or tool) the row came from
TAGGED_BY = "tagged_by"
TAGGED_AT = "tagged_at"

TAGS_SCHEMA = pa.schema(
    [
        pa.field(FACE_ID, pa.string()),
        pa.field(NAME, pa.string()),
        pa.field(VERDICT, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(TAGGED_BY, pa.string()),
        pa.field(TAGGED_AT, TIMESTAMP),
    ]
)

# suggestions table: at most one name per untagged face in each of its scopes (plus SCOPE, FACE_ID, IMAGE_ID,
# URI, LIBRARY, BBOX, NAME, SCORE, RUN_ID)
METHOD = "method"  # (EVIDENCE here: the face_ids of the tagged faces that support the name)
EVIDENCE_LIBRARIES = "evidence_libraries"  # the library of each face of EVIDENCE, in its order

SUGGESTIONS_SCHEMA = pa.schema(
    [
        pa.field(SCOPE, pa.string()),
        pa.field(FACE_ID, pa.string()),
        pa.field(IMAGE_ID, pa.string()),
        pa.field(URI, pa.string()),
        pa.field(LIBRARY, pa.string()),
        pa.field(BBOX, pa.list_(pa.float32(), 4)),
        pa.field(NAME, pa.string()),
        pa.field(SCORE, pa.float32()),
        pa.field(EVIDENCE, pa.list_(pa.string())),
        pa.field(EVIDENCE_LIBRARIES, pa.list_(pa.string())),
        pa.field(METHOD, pa.string()),
        pa.field(RUN_ID, pa.string()),
    ]
)

# runs table: one row per run of a job that writes DST (plus RUN_ID)
COMMAND = "command"  # the command line
STEPS = "steps"  # what the run did, in order: name, status (STEP_*), seconds, counts (JSON)
STEP_NAME = "name"
STEP_STATUS = "status"
STEP_SECONDS = "seconds"
STEP_COUNTS = "counts"
STEP_OK, STEP_FAILED, STEP_SKIPPED = "ok", "failed", "skipped"
CONFIG_HASH = "config_hash"  # sha256 of the resolved config (JSON, keys sorted)
VERSIONS = "versions"  # JSON: package versions, the models configured (or resolved, when the job resolved them)
HOST = "host"
STARTED_AT = "started_at"
ENDED_AT = "ended_at"
EXIT_CODE = "exit_code"

STEP_TYPE = pa.struct(
    [
        pa.field(STEP_NAME, pa.string()),
        pa.field(STEP_STATUS, pa.string()),
        pa.field(STEP_SECONDS, pa.float64()),
        pa.field(STEP_COUNTS, pa.string()),
    ]
)

# circles table: one row per library in a circle (libraries whose owners share people, names and duplicates)
CIRCLE = "circle"
ADDED_AT = "added_at"

CIRCLES_SCHEMA = pa.schema(
    [
        pa.field(CIRCLE, pa.string()),
        pa.field(LIBRARY, pa.string()),
        pa.field(ADDED_AT, TIMESTAMP),
        pa.field(RUN_ID, pa.string()),
    ]
)

# forgotten table: one row per photo or face forgotten (`facepipe forget`), kept as salted hashes only, so that
# later runs skip it while it is still at SRC
KEY = "key"  # salted sha256 of the photo's uri
LIBRARY_KEY = "library_key"  # salted sha256 of its library's id
FORGOTTEN_PHOTO, FORGOTTEN_FACE = "photo", "face"  # KIND: the whole photo, or one face of it (at BBOX)
FORGOTTEN_AT = "forgotten_at"

FORGOTTEN_SCHEMA = pa.schema(
    [
        pa.field(KEY, pa.string()),
        pa.field(LIBRARY_KEY, pa.string()),
        pa.field(KIND, pa.string()),
        pa.field(BBOX, pa.list_(pa.float32(), 4)),
        pa.field(FORGOTTEN_AT, TIMESTAMP),
        pa.field(RUN_ID, pa.string()),
    ]
)

# libraries table: one row per library with a setting of its own (`facepipe library set`)
FACES_ON = "faces_on"
UPDATED_AT = "updated_at"

LIBRARIES_SCHEMA = pa.schema(
    [
        pa.field(LIBRARY, pa.string()),
        pa.field(FACES_ON, pa.bool_()),
        pa.field(UPDATED_AT, TIMESTAMP),
        pa.field(RUN_ID, pa.string()),
    ]
)

RUNS_SCHEMA = pa.schema(
    [
        pa.field(RUN_ID, pa.string()),
        pa.field(COMMAND, pa.string()),
        pa.field(STEPS, pa.list_(STEP_TYPE)),
        pa.field(CONFIG_HASH, pa.string()),
        pa.field(VERSIONS, pa.string()),
        pa.field(HOST, pa.string()),
        pa.field(STARTED_AT, TIMESTAMP),
        pa.field(ENDED_AT, TIMESTAMP),
        pa.field(EXIT_CODE, pa.int32()),
    ]
)


# What each table at DST holds and what each of its columns means: the tables page of the docs
# (docs/tables.md) is generated from these, and a test checks that every column is described.
# Kept out of the Arrow field metadata on purpose: tables written without it would then mismatch on append.
TABLE_DOCS = {
    IMAGES_TABLE: "One row per photo listed at SRC, whatever happened to it (`status`, `error`); written by "
    "`facepipe embed`. The fingerprint columns (`sha256` to `exif_fields`) are what `facepipe dedup` compares: "
    "computed by the decode stage while it holds the photo (`decode.fingerprints`, on by default); tables written "
    "by an earlier version gain them on the next embed run, which decodes unchanged photos again for the "
    "fingerprints only (its summary says `fingerprints added to N`). Tables created since the library layout are "
    "partitioned by a hash bucket of the library (`library_bucket`, a storage column that reads leave out; "
    "`output.library_buckets` buckets) and sorted by library within files, so that reading one library opens "
    "few files ([Libraries](guides/libraries.md#reading-one-library)).",
    FACES_TABLE: "One row per detected face of a photo whose status is `ok`; written by `facepipe embed`, each "
    "batch before the images rows that commit it. A table holds the faces of one detector and one embedder "
    "(recorded in its description); D is the embedder's dimension (128 for SFace). Laid out by library as the "
    "images table.",
    CLUSTERS_TABLE: "One row per clustered face in each of its scopes: the person (cluster) it belongs to there; "
    "written by `facepipe cluster`, replaced whole by each run, before the persons table that commits it. People "
    "are found per scope: over the libraries of each circle together, and per library for a library in no circle.",
    PERSONS_TABLE: "One row per cluster (person), largest first; written by `facepipe cluster` after the clusters "
    "table, its commit recording the clusters and faces versions and the merge rule used.",
    DUPLICATES_TABLE: "One row per photo in a group of copies (the keeper and its duplicates); written by "
    "`facepipe dedup`, after the similar table, its commit recording the images version compared and the run's "
    "summary. A photo is in one group at most in each of its scopes (its library, or each circle it is in).",
    SIMILAR_TABLE: "One row per photo in a stack of similar photos (burst shots, two exposures of one moment): "
    "kept apart, never removed; written by `facepipe dedup`.",
    TAGS_TABLE: "What people said of a face: one row per (face_id, name), a tag or a verdict on a suggestion; "
    "written by `facepipe tags add | remove | rename`, one Delta transaction each.",
    SUGGESTIONS_TABLE: "At most one suggested name per untagged face in each of its scopes, none for a face with "
    "no confident name; a tag is its face's library's, and a scope's names come from its libraries' tags only; "
    "written whole by each `facepipe tags suggest` (one Delta overwrite whose commit records the faces and "
    "tags versions it read and the run's summary).",
    CIRCLES_TABLE: "One row per library in a circle: libraries whose owners share people, names and duplicates; "
    "written by `facepipe circles set | remove`, one Delta transaction each.",
    FORGOTTEN_TABLE: "One row per photo or face forgotten by `facepipe forget`: only salted hashes of its uri and "
    "library (the salt is in the table's description), so that later runs skip what is forgotten while it is still "
    "at SRC, until `facepipe forget --lift` adds it back; neither the uri nor the image id is kept.",
    LIBRARIES_TABLE: "One row per library with a setting of its own; written by `facepipe library set`. A library "
    "without a row has the defaults (faces on).",
    RUNS_TABLE: "One row per run of a command that writes the library (embed, index, cluster, dedup, dedup apply, "
    "tags add | remove | rename | suggest, circles set | remove, nightly), appended when the run ends, however "
    "it ends; a run refused because another holds the library writes none.",
}

COLUMN_DOCS = {
    IMAGES_TABLE: {
        IMAGE_ID: "sha256 (hex) of the file's bytes; null when the file could not be read",
        URI: "path or `s3://` address of the photo",
        LIBRARY: "the library the photo belongs to (`facepipe embed --library L`; `default` when none is named); "
        "a photo belongs to one library",
        STATUS: "`ok` (faces found), `no_face`, `error`, or `faces_off` (its library opted out of faces: "
        "fingerprinted, no face computed)",
        ERROR: "null unless status is `error`: `reason: message`, the reason one of `read_failed` (retried by "
        "the next run), `empty_file`, `not_an_image`, `decode_failed`, `too_large`",
        NUM_FACES: "faces rows of this photo",
        WIDTH: "pixels across after EXIF orientation; null when undecodable",
        HEIGHT: "pixels down after EXIF orientation; null when undecodable",
        SIZE: "bytes of the file",
        MTIME: "last modification (S3: LastModified)",
        ETAG: "S3 ETag (null for local files)",
        RUN_ID: "the run that wrote the row",
        PROCESSED_AT: "when the row was written",
        SHA256: "sha256 of the file's bytes (as image_id; null for an error)",
        PIXEL_SHA256: "sha256 of the decoded upright RGB pixels and the decode scale: the same photo in another "
        "container or with other metadata has the same",
        PDQ: "PDQ perceptual hash (32 bytes) of the upright photo, shrunk by a whole factor to about 128 px",
        PDQ_QUALITY: "PDQ's quality, 0-100: below `dedup.min_pdq_quality` (flat photos) the hash is not trusted",
        PDQ_VARIANTS: "PDQ of the photo mirrored, rotated 90 / 180 / 270 degrees, centre-cropped to 90% and 75% "
        "of the area, and inside its uniform frame (empty without one), in that order",
        CAPTURED_AT: "EXIF DateTimeOriginal + SubSecTimeOriginal, moved to UTC by OffsetTimeOriginal (read as UTC "
        "without it); null without EXIF",
        CAMERA: "EXIF make and model",
        FORMAT: "the container: JPEG, PNG, WEBP, ...",
        JPEG_QUALITY: "the libjpeg quality whose luminance table is nearest the file's (null for other formats)",
        GREYSCALE: "no colour in the pixels",
        CONTENT_FRACTION: "share of the area inside a uniform frame (1.0 without one)",
        EXIF_FIELDS: "EXIF tags the file carries, orientation aside",
        KEYPOINTS: "the photo's strongest ORB keypoints (up to 64, found at 256 px): per keypoint its 32-byte "
        "descriptor and its place as shares of the width and height (uint16); what finds its edited copies",
    },
    FACES_TABLE: {
        FACE_ID: "unique; a hash of uri, image_id and face_index",
        IMAGE_ID: "the photo (`images.image_id`)",
        URI: "the photo (`images.uri`)",
        LIBRARY: "its photo's library (`images.library`)",
        FACE_INDEX: "rank of the face in its photo (0 = highest detection score)",
        BBOX: "x1, y1, x2, y2 in original pixels after EXIF orientation",
        LANDMARKS: "x, y of the subject's right eye, left eye, nose tip, right mouth corner, left mouth corner "
        "(for a frontal face the first eye is on the image's left)",
        DET_SCORE: "detector confidence",
        EMBEDDING: "unit L2 norm; D = 128 for SFace",
        MODEL: "embedder id, e.g. `sface:face_recognition_sface_2021dec_int8bq@fb143eea0783`",
        DETECTOR: "detector id",
        RUN_ID: "the run that wrote the row",
    },
    CLUSTERS_TABLE: {
        SCOPE: "where the face was clustered: `circle/C` (the libraries of circle C together) or `library/L` (a "
        "library in no circle)",
        FACE_ID: "the face (`faces.face_id`)",
        IMAGE_ID: "its photo (`images.image_id`)",
        URI: "its photo (`images.uri`)",
        LIBRARY: "its photo's library (`images.library`)",
        CLUSTER_ID: "the person (`persons.cluster_id`); -1: no one (noise, or a face too small to cluster)",
        CONFIDENCE: "cosine similarity of the face to its cluster's mean direction",
        RUN_ID: "the clustering run that placed the face",
    },
    PERSONS_TABLE: {
        SCOPE: "the scope the person was found in (`clusters.scope`); a person is one cluster across the libraries "
        "of a circle, and a cluster id names a person within its scope only",
        CLUSTER_ID: "the person; stable across incremental runs, and a full run keeps the id of the earlier "
        "cluster each new one overlaps most",
        NUM_FACES: "faces in the cluster",
        REPRESENTATIVES: "up to `cluster.representatives` (5) face ids, the most central first",
        COVER_FACE: "the cover face: the most central of the sharper-detected half of the cluster's faces",
        COVER_URI: "the cover face's photo",
        COVER_BBOX: "the cover face's box (x1, y1, x2, y2)",
        RUN_ID: "the clustering run that wrote the row",
    },
    DUPLICATES_TABLE: {
        SCOPE: "where the copies were found (`clusters.scope`): within a library, or across a circle's libraries",
        GROUP_ID: "the group of copies; stable across runs, and unique in the store",
        IMAGE_ID: "the photo (`images.image_id`)",
        URI: "the photo (`images.uri`)",
        LIBRARY: "its library (`images.library`)",
        KIND: "the photo against its group's keeper: a file copy (`exact`, `same_pixels`, `near_duplicate`) or an "
        "edited one (`crop`, `rotated`, `caption`, `screenshot`, `fit`, `overlay`, `filter`, `stacked`: several "
        "edits, listed in the evidence); for the keeper, the strongest kind in its group",
        ROLE: "`keep` or `duplicate`",
        SCORE: "1.0 for exact and same pixels; 1 - PDQ distance / 256 for the link that brought the photo in; for an "
        "edited copy, the share of its keypoint matches one transform explains",
        EVIDENCE: "JSON: the photo it matched, the PDQ distance and variant (or same bytes / same decoded pixels; "
        "for an edited copy the edits, which photo is the original, the transform and the overlap's measures), "
        "the keeper order's values; for the keeper, `decided_by`: the criterion that chose it",
        SIZE: "bytes of the file when dedup ran (`dedup apply` checks them)",
        SHA256: "sha256 of the file when dedup ran (`dedup apply` checks it)",
        RUN_ID: "the dedup run",
    },
    SIMILAR_TABLE: {
        SCOPE: "where the stack was found (`duplicates.scope`)",
        GROUP_ID: "the stack",
        IMAGE_ID: "the photo (`images.image_id`)",
        URI: "the photo (`images.uri`)",
        LIBRARY: "its library (`images.library`)",
        SCORE: "1 - PDQ distance / 256 of the link that brought the photo in",
        EVIDENCE: "JSON: `with` (the photo it is like), the PDQ distance, `two_exposures` when read back",
        RUN_ID: "the dedup run",
    },
    TAGS_TABLE: {
        FACE_ID: "the face (`faces.face_id`)",
        NAME: "the person",
        VERDICT: "`tag` (named by a person) or `accepted` (a suggestion accepted): the face's name, at most one per "
        "face, a new one replaces it; `rejected`: not this person (kept beside the face's name)",
        SOURCE: "the tag file (or tool) the row came from",
        TAGGED_BY: "`--tagged-by` (default: the user running the command)",
        TAGGED_AT: "when the row was written",
    },
    SUGGESTIONS_TABLE: {
        SCOPE: "where the name was found (`clusters.scope`): from the tags of that scope's libraries only",
        FACE_ID: "the face (`faces.face_id`)",
        IMAGE_ID: "its photo (`images.image_id`)",
        URI: "its photo (`images.uri`)",
        LIBRARY: "its photo's library (`images.library`)",
        BBOX: "the face's box (x1, y1, x2, y2)",
        NAME: "the name suggested",
        SCORE: "the estimated probability that the name is right",
        EVIDENCE: "face_ids of the tagged faces behind it: the one the name started from, then the others of that "
        "name among the face's nearest",
        EVIDENCE_LIBRARIES: "the library of each face of `evidence`, in its order",
        METHOD: "`nearest-tagged` (a tagged face among its nearest) or `nearest-named` (passed on through faces "
        "named on the way)",
        RUN_ID: "the run that first suggested this name for this face (kept while the suggestion is pending)",
    },
    CIRCLES_TABLE: {
        CIRCLE: "the circle's id (no slash)",
        LIBRARY: "a library in it (`images.library`)",
        ADDED_AT: "when the library joined the circle",
        RUN_ID: "the `circles set` run that added it",
    },
    FORGOTTEN_TABLE: {
        KEY: "sha256 (hex) of the table's salt and the photo's uri",
        LIBRARY_KEY: "sha256 (hex) of the table's salt and the photo's library",
        KIND: "`photo` (the photo is skipped) or `face` (its face at `bbox` is not written again)",
        BBOX: "a forgotten face's box (x1, y1, x2, y2 in pixels); null for a photo",
        FORGOTTEN_AT: "when it was forgotten",
        RUN_ID: "the `forget` run that wrote the row",
    },
    LIBRARIES_TABLE: {
        LIBRARY: "the library (`images.library`)",
        FACES_ON: "false: its owner opted out of faces (its photos get dedup fingerprints, no faces, status "
        "`faces_off`); true: faces computed (again)",
        UPDATED_AT: "when the setting was made",
        RUN_ID: "the `library set` run that made it",
    },
    RUNS_TABLE: {
        RUN_ID: "the run (also in its lease while it runs, and the run_id of every row it wrote)",
        COMMAND: "the command line (`facepipe ...`), or the Python call that started the run "
        "(`pipeline.cluster('faces-out', incremental=True)`)",
        STEPS: "what the run did, in order: name; status `ok`, `failed` or `skipped`; seconds; counts: JSON of "
        "the figures the step reported (for a skipped step, `why`)",
        CONFIG_HASH: "sha256 of the resolved configuration (JSON, keys sorted)",
        VERSIONS: "JSON: facepipe, ray, deltalake, faiss, pyarrow, torch, onnxruntime versions and the models "
        "(their ids when the run resolved them)",
        HOST: "the machine it ran on",
        STARTED_AT: "when it started",
        ENDED_AT: "when it ended",
        EXIT_CODE: "0 done, 1 photos missing or a failure, 2 a configuration mistake",
    },
}


def matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The (rows, width) numpy array of a list column of equal-length rows (EMBEDDING, BBOX,
    LANDMARKS); (0, 0) for an empty column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), -1) if len(column) else values.reshape(0, 0)
