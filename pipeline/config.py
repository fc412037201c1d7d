"""Typed configuration: one model per section, unknown keys rejected, YAML file <- --set overrides."""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError
from pipeline.people.cluster_settings import ClusterSettings
from pipeline.search.index_settings import IndexSettings

log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputConfig(_Section):
    extensions: tuple[str, ...] = Field(
        default=(".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"),
        description="File name endings listed as photos (compared case-insensitively).",
    )


class StorageConfig(_Section):
    endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (MinIO, moto, Ceph); default: AWS_ENDPOINT_URL or AWS itself.",
    )
    region: str | None = Field(default=None, description="S3 region; default: AWS_REGION / AWS_DEFAULT_REGION.")


class RayConfig(_Section):
    address: str | None = Field(
        default=None,
        description="Ray cluster to attach to ('auto': the cluster this node runs; 'ray://host:10001'); "
        "default: RAY_ADDRESS, else a fresh local Ray.",
    )
    model_actors: int | None = Field(
        default=None,
        ge=1,
        description="Model actors; default: one per GPU, else one per CPU. More actors than GPUs share them "
        "(fractional GPUs).",
    )
    actor_cpus: float | None = Field(
        default=None,
        gt=0,
        description="CPUs reserved by each model actor; default: what leaves 0.5 CPU for reads, at most 1.",
    )
    read_batch_size: int = Field(default=16, ge=1, description="Photos per read/decode task batch.")
    model_batch_size: int = Field(default=32, ge=1, description="Photos per model actor batch.")
    in_process_below: int = Field(
        default=5000,
        ge=0,
        description="An embed run with fewer photos to process and no Ray cluster to join (ray.address, "
        "RAY_ADDRESS) runs in its own process instead of starting a local Ray; 0: always Ray.",
    )
    scope_pack_size: int = Field(
        default=20_000,
        ge=1,
        description="The jobs that work per scope (cluster, dedup, tags), when distributed, pack the scopes of fewer "
        "faces (photos for dedup) than this into Ray tasks of about this many; a larger scope runs alone.",
    )


class DecodeConfig(_Section):
    max_pixels: int = Field(
        default=100_000_000, ge=1, description="Photos with more pixels are rejected (decompression-bomb guard)."
    )
    reduce_jpeg: bool = Field(
        default=True,
        description="Decode JPEGs at the smallest DCT scale keeping >= 3/4 of models.detect_max_side; faces smaller "
        "than the 112 px crop there are re-aligned from a full-resolution decode.",
    )
    device_min_pixels: int | None = Field(
        default=None,
        ge=1,
        description="With model actors on GPUs: JPEGs of at least this many pixels travel undecoded "
        "and are decoded on the GPU by nvJPEG (torchvision); null: every photo decodes on the CPU.",
    )
    fingerprints: bool = Field(
        default=True,
        description="Compute what `facepipe dedup` needs (hashes of bytes and pixels, PDQ, EXIF capture time and "
        "camera, JPEG quality) while decoding; off: those columns stay empty and dedup refuses the tables.",
    )
    keypoints: bool = Field(
        default=True,
        description="With the fingerprints, also keep each photo's ORB keypoints (what `dedup.edits` finds edited "
        "copies with, about 2.3 kB a photo); off: the keypoints column stays empty and dedup with edits refuses the "
        "tables.",
    )


class ModelsConfig(_Section):
    detector: str = Field(
        default="yunet", description="Detector in the model registry (yunet, scrfd, dlib_hog, dlib_mmod)."
    )
    embedder: str = Field(
        default="sface",
        description="Embedder in the model registry (sface, arcface, dlib), or a model pack folder (facepipe train).",
    )
    detector_path: str | None = Field(default=None, description="ONNX file of a bring-your-own detector (scrfd).")
    embedder_path: str | None = Field(default=None, description="ONNX file of a bring-your-own embedder (arcface).")
    embedder_mean: float = Field(default=127.5, description="Bring-your-own embedder input: (RGB - mean) / std.")
    embedder_std: float = Field(default=127.5, gt=0, description="Bring-your-own embedder input: (RGB - mean) / std.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto = CUDA when present.")
    detector_engine: Literal["auto", "opencv", "onnxruntime", "openvino", "torch", "dlib"] = Field(
        default="auto", description="auto = torch on CUDA, the fastest measured engine on CPU."
    )
    embedder_engine: Literal["auto", "opencv", "onnxruntime", "openvino", "torch", "dlib"] = Field(
        default="auto", description="auto = torch on CUDA, the fastest measured engine on CPU."
    )
    detect_max_side: int = Field(default=640, ge=32, description="Longest side (px) of the image the detector sees.")
    score_threshold: float = Field(default=0.6, gt=0, lt=1, description="Minimum detection score.")
    nms_threshold: float = Field(default=0.3, gt=0, lt=1, description="Detector non-maximum-suppression IoU.")
    min_face_size: int = Field(default=0, ge=0, description="Drop faces whose box is shorter than this (original px).")


_INDEX = IndexSettings()  # the index algorithms' defaults: the one source of the index.* defaults


class IndexConfig(_Section):
    kind: Literal["auto", "flat", "hnsw", "ivf_flat", "ivf_pq"] = Field(
        default=_INDEX.kind,
        description="FAISS index kind; auto chooses from the vector count, dimension and memory budget.",
    )
    memory_budget: ByteSize = Field(
        default=ByteSize(_INDEX.memory_budget), description="Memory the index may take ('4GiB', '500MB')."
    )
    target_recall: float = Field(
        default=_INDEX.target_recall,
        gt=0,
        le=1,
        description="recall@k (against exact search) nprobe/efSearch is tuned to.",
    )
    k: int = Field(default=_INDEX.k, ge=1, description="Neighbours per query, in tuning and in search.")
    recall_floor: float = Field(
        default=_INDEX.recall_floor,
        ge=-1,
        le=1,
        description="Exact neighbours less similar than this do not count in the tuned recall.",
    )
    hnsw_m: int = Field(default=_INDEX.hnsw_m, ge=4, description="HNSW links per node.")
    hnsw_ef_construction: int = Field(
        default=_INDEX.hnsw_ef_construction, ge=8, description="HNSW build-time search depth."
    )
    tune_queries: int = Field(
        default=_INDEX.tune_queries, ge=10, description="Held-out queries for tuning and the recorded recall."
    )
    batch_rows: int = Field(
        default=_INDEX.batch_rows, ge=1, description="Vectors read and added per step (bounds the build's memory)."
    )
    rebuild_removed_fraction: float = Field(
        default=_INDEX.rebuild_removed_fraction,
        gt=0,
        lt=1,
        description="Rebuild when this fraction of the indexed faces has been removed.",
    )
    seed: int = Field(default=_INDEX.seed, description="Seed of the training and query samples.")

    def index_settings(self) -> IndexSettings:
        """These settings as the plain values the index algorithms take."""
        return IndexSettings(**{**self.model_dump(), "memory_budget": int(self.memory_budget)})


class RecognizeConfig(_Section):
    far: float = Field(default=1e-3, gt=0, lt=1, description="False-accept rate whose threshold verify uses.")
    fpir: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="False-positive identification rate of identify: the share of people not enrolled that are "
        "named, whatever the gallery's size (the threshold rises with it).",
    )
    calibrations: str = Field(
        default="~/.cache/facepipe/calibrations",
        description="Folder or s3:// prefix of the calibrations `facepipe calibrate` measured, one file per model "
        "(they override the ones shipped for the default models).",
    )


_CLUSTER = ClusterSettings()  # the clustering algorithms' defaults: the one source of those cluster.* defaults


class ClusterConfig(_Section):
    method: Literal["graph", "hdbscan", "kmeans"] = Field(
        default=_CLUSTER.method, description="graph: average linkage along a kNN graph; hdbscan; kmeans (FAISS)."
    )
    similarity: float | None = Field(
        default=_CLUSTER.similarity,
        gt=-1,
        lt=1,
        description="graph: a fixed merge threshold (two groups merge while the mean cosine similarity of all pairs of "
        "their faces is at least this); default: calibrated from the collection (single_margin, group_margin).",
    )
    single_margin: float = Field(
        default=_CLUSTER.single_margin,
        gt=0,
        lt=1,
        description="graph, calibrated: two single faces merge when their similarity is this far above the "
        "collection's different-person level (the median similarity of faces the first pass put in different groups).",
    )
    group_margin: float = Field(
        default=_CLUSTER.group_margin,
        gt=0,
        lt=1,
        description="graph, calibrated: large groups merge this far above the level; groups of m and n faces at "
        "group_margin + (single_margin - group_margin) / sqrt(m n).",
    )
    neighbours: int = Field(
        default=_CLUSTER.neighbours, ge=2, description="graph: neighbours per face in the kNN graph."
    )
    graph_recall: float = Field(
        default=_CLUSTER.graph_recall,
        gt=0,
        le=1,
        description="graph: recall the kNN graph's index is tuned to, over the neighbours similar enough to "
        "merge two single faces (index.target_recall is for search; a face missing one of 30 neighbours still "
        "joins its person).",
    )
    distributed: bool = Field(
        default=False,
        description="graph: build and search the kNN graph and run the linkage as Ray tasks (ray.address: the "
        "cluster; the same clusters as on one machine, up to the indexes' approximation).",
    )
    shard_faces: int = Field(
        default=_CLUSTER.shard_faces,
        ge=1000,
        description="graph: faces per kNN-graph index shard (a task holds one shard at a time: "
        "about 1 GB per million 128-d faces on HNSW; more shards cost search time).",
    )
    min_cluster_size: int = Field(
        default=_CLUSTER.min_cluster_size, ge=1, description="Smaller clusters become noise (cluster_id -1)."
    )
    min_face_side: float = Field(
        default=40,
        ge=0,
        description="Faces whose box is shorter (photo px) stay unclustered: too blurred to tell apart.",
    )
    small_scope_faces: int = Field(
        default=1000,
        ge=0,
        description="A scope (a library, a circle) of fewer faces measures its different-person level at most "
        "at the model's (the median similarity of the different-person pairs its FAR curve was calibrated on, "
        "when the curve records it): a small library mostly of one person would measure that person's faces. "
        "0: never capped.",
    )
    hdbscan_min_samples: int = Field(default=_CLUSTER.hdbscan_min_samples, ge=1, description="hdbscan: min_samples.")
    kmeans_k: int | None = Field(
        default=_CLUSTER.kmeans_k, ge=1, description="kmeans: clusters; default: estimated by the graph method."
    )
    cannot_link: bool = Field(default=_CLUSTER.cannot_link, description="Two faces of one photo never share a cluster.")
    representatives: int = Field(default=5, ge=1, description="Face ids kept per person, most central first.")
    seed: int = Field(default=_CLUSTER.seed, description="Seed of k-means.")

    def cluster_settings(self) -> ClusterSettings:
        """The keys the clustering algorithms take, as their plain values (distributed, min_face_side and
        representatives are the cluster job's own)."""
        return ClusterSettings(**self.model_dump(include={f.name for f in fields(ClusterSettings)}))


class DedupConfig(_Section):
    pdq_distance: int = Field(
        default=40,
        ge=0,
        le=128,
        description="Two photos are copies when a PDQ hash of one (as is, mirrored, rotated or centre-cropped) is "
        "at most this many of 256 bits from the other's.",
    )
    unframed_distance: int = Field(
        default=52,
        ge=0,
        le=128,
        description="The same for the hash of a photo taken out of its uniform frame (a smaller, noisier hash).",
    )
    min_pdq_quality: int = Field(
        default=30,
        ge=0,
        le=100,
        description="Photos whose PDQ quality is lower (flat, nearly uniform) join groups by their bytes or "
        "pixels only.",
    )
    similar_distance: int = Field(
        default=64,
        ge=0,
        le=128,
        description="Photos not copies but within this PDQ distance, with faces of the same people, are stacked "
        "as similar.",
    )
    exposure_residual: float = Field(
        default=0.35,
        ge=0,
        description="Candidate copies are read back and compared at 64 x 64 (turned and centre-cropped to line "
        "up): differing by more than this (grey levels, in standard deviations, in some 8 x 8 block) at every "
        "framing they are two exposures, similar, and never in one group; 0: never read photos back.",
    )
    burst_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Photos of one camera captured this close in time (EXIF) are stacked as similar.",
    )
    same_person: float = Field(
        default=0.5,
        gt=-1,
        lt=1,
        description="Cosine similarity from which the central faces of two photos are one person (the default "
        "model's scale; another model's threshold at the same false-accept rate, from its FAR curve: without one, "
        "faces stack nothing and the summary says how to calibrate the model).",
    )
    candidates: int = Field(default=16, ge=1, description="Nearest hashes looked up per photo and variant.")
    edits: bool = Field(
        default=False,
        description="Also find edited copies (free crops, small rotations, captions, stickers and text, screenshots, "
        "colour filters, blurred square fits): photos whose keypoints agree on one transform, read back and compared. "
        "Off until measured on the app-made copies library and LFW (issue 27).",
    )
    keypoint_matches: int = Field(
        default=5,
        ge=3,
        description="Keypoint matches that must agree on one transform for two photos to be read back as a candidate "
        "edited copy.",
    )
    distributed: bool = Field(
        default=False,
        description="Run the candidate search, and with edits the read-back of candidate pairs, as Ray tasks "
        "(ray.address).",
    )


class TagsConfig(_Section):
    min_precision: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="Suggestions kept, best first, while their estimated precision (the mean of their scores, "
        "cross-validated on the library's own tags) stays at least this.",
    )
    neighbours: int = Field(
        default=20,
        ge=1,
        description="A name travels to a face only from its this many nearest faces (all faces, tagged or not): "
        "a look-alike's tags never reach a face whose own people crowd closer.",
    )
    similarity: float = Field(
        default=0.5,
        gt=-1,
        lt=1,
        description="Cosine similarity a face needs to the named face it takes a name from (the default model's "
        "scale, about FAR 8e-6 on LFW's different-person pairs; every similarity and margin of this section is "
        "carried to another model at the same false-accept rate through its FAR curve: without one, suggest "
        "refuses the model and says how to calibrate it).",
    )
    direct_similarity: float = Field(
        default=0.45,
        gt=-1,
        lt=1,
        description="Cosine similarity a face needs to the nearest tagged face of the name, however the name came.",
    )
    margin: float = Field(
        default=0.1,
        ge=0,
        description="No name when another name's nearest face is within this similarity of the best one's.",
    )
    pass_on: float = Field(
        default=0.55,
        gt=-1,
        lt=1,
        description="A face named passes the name on to its own nearest faces only when it took the name at least "
        "this similar (LFW, 10 draws: strangers named 0.35-0.52% against 0.39-0.60% when every name passes on).",
    )
    same_person: float = Field(
        default=0.6,
        gt=-1,
        lt=1,
        description="A tagged face is suspect (left out) when a face tagged with another name is at least this "
        "similar and closer_by nearer than any face of its own name, ...",
    )
    closer_by: float = Field(
        default=0.1,
        ge=0,
        description="... how much more similar that face of another name must be than the nearest face of the "
        "tagged face's own name (a similarity margin), ...",
    )
    odd_one_out: float = Field(
        default=0.35,
        gt=-1,
        lt=1,
        description="... or when its name has other tagged faces and none is this similar to it (LFW, 10 draws: "
        "0.35 kept every draw but one from spreading a wrong tag; 0.3 let one spread to 14 photos).",
    )
    folds: int = Field(
        default=5, ge=2, description="Cross-validation folds of the tags that estimate each suggestion's score."
    )
    distributed: bool = Field(default=False, description="Build the kNN graph as Ray tasks (ray.address).")
    shard_faces: int = Field(
        default=2_000_000,
        ge=1000,
        description="Faces per kNN-graph index shard (a task holds one shard at a time: about 1 GB per million "
        "128-d faces on HNSW; more shards cost search time).",
    )


NIGHTLY_STEPS = ("embed", "index", "cluster", "dedup", "tags", "report", "maintain")


class NightlyConfig(_Section):
    steps: list[Literal["embed", "index", "cluster", "dedup", "tags", "report", "maintain"]] = Field(
        default=list(NIGHTLY_STEPS),
        description="The steps `facepipe nightly` runs, in this order (each skipped when its inputs did not change; "
        "maintain: compact the images and faces tables' small files, expire history older than output.history_days "
        "and checkpoint every table's log; it runs every night).",
    )
    recluster_every: int = Field(
        default=7,
        ge=1,
        description="Clustering is incremental (new faces placed among the people found) except every this many "
        "nightly runs that cluster, when all faces are clustered again (--full: now).",
    )


class OutputConfig(_Section):
    commit_every: int = Field(default=1000, ge=1, description="Photos per table commit (progress survives a crash).")
    library_buckets: int = Field(
        default=64,
        ge=1,
        description="The images and faces tables a run creates are partitioned in this many buckets of libraries, so "
        "that reading one library opens few files; existing tables keep the count they were created with.",
    )
    lease_ttl_s: float = Field(
        default=120.0,
        gt=0,
        description="A run holds DST (one writer at a time) by a lease it renews every third of this; the lease of "
        "a run killed without letting go expires this many seconds after its last renewal.",
    )
    history_days: float = Field(
        default=7.0,
        ge=0,
        description="The nightly's maintain step deletes the tables' data files and log entries older than this many "
        "days that their current version does not use: deleted rows leave Delta's time travel within it.",
    )


class TrainConfig(_Section):
    data: str | None = Field(
        default=None, description="CSV of uri,person to train on; default: LFW's people.txt sets (train.lfw)."
    )
    lfw: str | None = Field(
        default=None, description="LFW folder: training people (9 sets) and held-out pairs (1 fold)."
    )
    test_fold: int = Field(default=9, ge=0, le=9, description="LFW: the people.txt set and pairs.txt fold held out.")
    model: Literal["sface", "mobilefacenet"] = Field(
        default="sface", description="sface: fine-tune the default embedder; mobilefacenet: train one from scratch."
    )
    objective: Literal["offline_semi_hard", "offline_hard", "batch_hard", "batch_semi_hard", "contrastive"] = Field(
        default="offline_semi_hard",
        description="Triplets mined offline every mine_every steps (semi-hard or hard), in the batch, or contrastive "
        "pairs.",
    )
    margin: float = Field(default=0.2, gt=0, description="Triplet margin alpha (squared distances of unit vectors).")
    contrastive_margin: float = Field(
        default=1.0, gt=0, description="Contrastive loss: different pairs pushed past this distance."
    )
    people_per_batch: int = Field(default=16, ge=2, description="P of the P x K batches.")
    faces_per_person: int = Field(default=4, ge=2, description="K of the P x K batches.")
    steps: int = Field(default=1000, ge=1, description="Optimiser steps in all (each worker takes a batch per step).")
    time_budget_s: float | None = Field(
        default=None,
        gt=0,
        description="Stop after this many seconds of training steps (mining included, evaluations not).",
    )
    learning_rate: float = Field(
        default=1e-5, gt=0, description="Adam's learning rate (1e-5 fine-tunes; 1e-3 from scratch)."
    )
    weight_decay: float = Field(default=0.0, ge=0, description="Adam's weight decay.")
    mine_every: int = Field(default=50, ge=1, description="Offline mining: steps between two minings.")
    mine_people: int = Field(default=300, ge=2, description="Offline mining: people per mining subset.")
    mine_faces_per_person: int = Field(default=10, ge=2, description="Offline mining: at most this many faces of each.")
    mine_neighbours: int = Field(
        default=100, ge=1, description="Offline mining: negatives looked for among this many neighbours."
    )
    augment: bool = Field(default=True, description="Random flips, shifts, scale and colour changes of training crops.")
    checkpoint_every: int = Field(default=50, ge=1, description="Steps between checkpoints (and one at the end).")
    eval_every: int | None = Field(
        default=None, ge=1, description="Steps between held-out evaluations; default: once per epoch."
    )
    workers: int = Field(default=2, ge=1, description="Ray Train workers (DDP: gloo on CPU, NCCL on GPU).")
    cpus_per_worker: float = Field(
        default=1.0, gt=0, description="CPUs each worker reserves (and torch threads it uses)."
    )
    use_gpu: bool | None = Field(default=None, description="Workers on GPUs; default: when the cluster has them.")
    mixed_precision: bool = Field(default=True, description="float16 autocast on GPU (CPU runs float32).")
    seed: int = Field(default=0, description="Seed of sampling, mining subsets and augmentation.")


class Config(_Section):
    input: InputConfig = InputConfig()
    storage: StorageConfig = StorageConfig()
    ray: RayConfig = RayConfig()
    decode: DecodeConfig = DecodeConfig()
    models: ModelsConfig = ModelsConfig()
    output: OutputConfig = OutputConfig()
    index: IndexConfig = IndexConfig()
    recognize: RecognizeConfig = RecognizeConfig()
    cluster: ClusterConfig = ClusterConfig()
    dedup: DedupConfig = DedupConfig()
    tags: TagsConfig = TagsConfig()
    nightly: NightlyConfig = NightlyConfig()
    train: TrainConfig = TrainConfig()

    def resolved_storage(self) -> StorageConfig:
        """The storage section with the standard AWS environment variables filled in."""
        return resolve_storage(self.storage)


def resolve_storage(storage: StorageConfig | None = None) -> StorageConfig:
    """``storage`` (default: none given) with the standard AWS environment variables filling what it
    leaves unset: the one resolution the CLI and the Python API share."""
    storage = storage or StorageConfig()
    return StorageConfig(
        endpoint_url=storage.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
        region=storage.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    key, raw = item.split("=", 1)
    path = key.strip().split(".")
    if len(path) < 2 or not all(path):
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    return path, yaml.safe_load(raw) if raw != "" else None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


RENAMED_KEYS = {("decode", "signals"): "fingerprints"}  # old name -> new name, accepted with a warning


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the old names of renamed keys moved to their new names (a warning says so)."""
    for (section, old), new in RENAMED_KEYS.items():
        values = data.get(section)
        if isinstance(values, dict) and old in values:
            log.warning("%s.%s is deprecated: it is now %s.%s", section, old, section, new)
            values = dict(values)
            values.setdefault(new, values.pop(old))
            data = {**data, section: values}
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Build a Config from defaults, an optional YAML file and ``section.key=value`` overrides.

    Raises ConfigError naming the offending key or value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
        data = loaded
    for item in overrides:
        keys, value = _parse_override(item)
        nested: dict[str, Any] = {keys[-1]: value}
        for key in reversed(keys[:-1]):
            nested = {key: nested}
        data = _merge(data, nested)
    try:
        return Config.model_validate(_renamed(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration ({problems})") from None


def config_as_dict(config: Config) -> dict[str, Any]:
    """The config as plain YAML-serialisable data."""
    return config.model_dump(mode="json")
