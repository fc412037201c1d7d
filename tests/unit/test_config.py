"""Tests for the typed configuration: defaults, strict keys, --set overrides, files, storage env."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, config_as_dict, load_config
from pipeline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
# When configs/ holds no YAML yet, still check base.yaml so that its absence fails loudly.
CONFIG_FILES = sorted(CONFIGS.glob("*.yaml")) or [CONFIGS / "base.yaml"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_load_without_a_file() -> None:
    config = load_config()

    assert isinstance(config, Config)
    assert config.decode.max_pixels == 100_000_000
    assert config.models.detector == "yunet"
    assert config.models.embedder == "sface"
    assert config.models.device == "auto"
    assert config.ray.model_actors is None
    assert ".jpg" in config.input.extensions and ".png" in config.input.extensions


def test_unknown_section_in_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "colour_grading:\n  gamma: 2.2\n")

    with pytest.raises(ConfigError, match="colour_grading"):
        load_config(path)


def test_unknown_nested_key_in_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "models:\n  detector: yunet\n  detecter_threshold: 0.5\n")

    with pytest.raises(ConfigError, match=r"models\.detecter_threshold"):
        load_config(path)


def test_unknown_key_in_override_is_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"ray\.model_actor\b"):
        load_config(overrides=["ray.model_actor=3"])


def test_invalid_value_is_rejected_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"ray\.model_actors"):
        load_config(overrides=["ray.model_actors=0"])


@pytest.mark.parametrize(
    ("override", "section", "key", "expected"),
    [
        ("ray.model_actors=4", "ray", "model_actors", 4),
        ("ray.actor_cpus=1.5", "ray", "actor_cpus", 1.5),
        ("models.score_threshold=0.75", "models", "score_threshold", 0.75),
        ("decode.max_pixels=5000000", "decode", "max_pixels", 5_000_000),
        ("models.device=cpu", "models", "device", "cpu"),
        ("storage.endpoint_url=http://127.0.0.1:9000", "storage", "endpoint_url", "http://127.0.0.1:9000"),
        ("input.extensions=[.jpg, .heic]", "input", "extensions", (".jpg", ".heic")),
    ],
)
def test_override_parses_yaml_scalars(override: str, section: str, key: str, expected: object) -> None:
    config = load_config(overrides=[override])

    value = getattr(getattr(config, section), key)
    assert value == expected
    assert type(value) is type(expected)


def test_override_null_and_empty_clear_a_value_set_in_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", "ray:\n  model_actors: 3\nstorage:\n  region: eu-west-1\n")

    assert load_config(path).ray.model_actors == 3
    config = load_config(path, overrides=["ray.model_actors=null", "storage.region="])

    assert config.ray.model_actors is None
    assert config.storage.region is None


def test_override_nests_into_the_file_without_dropping_siblings(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.yaml",
        "ray:\n  model_actors: 2\n  read_batch_size: 8\nmodels:\n  device: cpu\n",
    )

    config = load_config(path, overrides=["ray.model_actors=5", "output.commit_every=10"])

    assert config.ray.model_actors == 5
    assert config.ray.read_batch_size == 8  # sibling from the file kept
    assert config.models.device == "cpu"  # other section from the file kept
    assert config.output.commit_every == 10
    assert config.ray.model_batch_size == load_config().ray.model_batch_size  # default kept


def test_later_override_wins_over_earlier() -> None:
    config = load_config(overrides=["ray.model_actors=2", "ray.model_actors=7"])

    assert config.ray.model_actors == 7


def test_override_value_may_contain_equals_sign() -> None:
    config = load_config(overrides=["storage.endpoint_url=http://host:9000/?a=b"])

    assert config.storage.endpoint_url == "http://host:9000/?a=b"


@pytest.mark.parametrize("override", ["ray.model_actors", "model_actors=3", "=3", "ray.=3", ".model_actors=3"])
def test_malformed_override_is_rejected(override: str) -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(overrides=[override])


def test_missing_config_file_is_rejected_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cluster.yaml"

    with pytest.raises(ConfigError, match="cluster.yaml"):
        load_config(missing)


def test_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "list.yaml", "- ray\n- models\n")

    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.yaml", "")

    assert config_as_dict(load_config(path)) == config_as_dict(load_config())


def test_resolved_storage_takes_endpoint_and_region_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.local:9000")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")

    storage = load_config().resolved_storage()

    assert storage.endpoint_url == "http://minio.local:9000"
    assert storage.region == "eu-central-1"  # AWS_REGION before AWS_DEFAULT_REGION


def test_resolved_storage_falls_back_to_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")

    storage = load_config().resolved_storage()

    assert storage.endpoint_url is None
    assert storage.region == "us-west-2"


def test_resolved_storage_config_values_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env:9000")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    config = load_config(overrides=["storage.endpoint_url=http://from-config:9000", "storage.region=ap-south-1"])

    storage = config.resolved_storage()

    assert storage.endpoint_url == "http://from-config:9000"
    assert storage.region == "ap-south-1"


def test_config_as_dict_round_trips_through_yaml(tmp_path: Path) -> None:
    import yaml

    config = load_config(overrides=["ray.model_actors=3", "input.extensions=[.jpg]"])
    path = _write(tmp_path / "resolved.yaml", yaml.safe_dump(config_as_dict(config)))

    assert load_config(path) == config


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_shipped_config_files_load(path: Path) -> None:
    config = load_config(path)

    assert isinstance(config, Config)


def test_base_yaml_equals_the_defaults() -> None:
    assert config_as_dict(load_config(CONFIGS / "base.yaml")) == config_as_dict(load_config())


def test_base_yaml_lists_every_key_and_no_other() -> None:
    import yaml

    listed = yaml.safe_load((CONFIGS / "base.yaml").read_text())
    sections = {name: field.annotation for name, field in Config.model_fields.items()}
    assert set(listed) == set(sections), "sections of base.yaml against Config"
    for name, section in sections.items():
        assert set(listed[name]) == set(section.model_fields), f"keys of {name} in base.yaml against {section.__name__}"


def test_index_and_cluster_sections_hand_the_algorithms_their_plain_values() -> None:
    from dataclasses import replace

    from pipeline.people.cluster_settings import ClusterSettings
    from pipeline.search.index_settings import IndexSettings

    assert load_config().index.index_settings() == IndexSettings()
    assert load_config().cluster.cluster_settings() == ClusterSettings()
    config = load_config(None, ["index.memory_budget=1GiB", "index.kind=hnsw", "cluster.method=kmeans"])
    index = config.index.index_settings()
    assert index == replace(IndexSettings(), memory_budget=1024**3, kind="hnsw")
    assert type(index.memory_budget) is int
    assert config.cluster.cluster_settings() == replace(ClusterSettings(), method="kmeans")


def test_a_renamed_key_is_read_under_its_old_name_with_a_warning(caplog) -> None:
    with caplog.at_level("WARNING"):
        config = load_config(overrides=["decode.signals=false"])
    assert config.decode.fingerprints is False
    assert "decode.signals is deprecated: it is now decode.fingerprints" in caplog.text
