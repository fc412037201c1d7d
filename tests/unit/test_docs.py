"""The docs pages made from the code are committed as the code makes them, and the code describes every column
and every configuration key they show."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pipeline import schema as S
from pipeline.config import Config
from pipeline.io.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]


def _load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def test_committed_pages_are_what_the_generator_writes():
    stale = generate.stale_pages()
    assert not stale, (
        f"{', '.join(str(path.relative_to(ROOT)) for path in stale)} differ from what the code gives: "
        f"run `{generate.REGENERATE}` and commit the result"
    )


def test_check_finds_a_page_edited_by_hand(tmp_path: Path):
    generate.write_pages(tmp_path)
    assert generate.stale_pages(tmp_path) == []
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text() + "A line added by hand.\n")
    (tmp_path / "tables.md").unlink()
    assert generate.stale_pages(tmp_path) == [tmp_path / "tables.md", page]


def test_the_tables_page_covers_every_table_read_table_reads():
    assert set(generate.TABLE_SCHEMAS) == set(TABLES)
    assert set(S.TABLE_DOCS) == set(TABLES)
    assert all(S.TABLE_DOCS[name].strip() for name in TABLES)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_is_described_and_every_description_is_a_column(table: str):
    columns = generate.TABLE_SCHEMAS[table].names
    described = S.COLUMN_DOCS[table]
    assert [c for c in columns if not described.get(c, "").strip()] == [], f"{table}: columns without a description"
    assert set(described) - set(columns) == set(), f"{table}: descriptions of columns the table does not have"


def test_the_tables_page_shows_each_column_with_its_arrow_type():
    page = generate.tables_page()
    assert "| bbox | `fixed_size_list<float32>[4]` | x1, y1, x2, y2 in original pixels" in page
    assert "| embedding | `fixed_size_list<float32>[D]` |" in page
    assert "| steps | `list<struct<name string, status string, seconds float64, counts string>>` |" in page
    assert "| tagged_at | `timestamp[us, UTC]` |" in page


def test_every_configuration_key_is_on_the_page_with_its_description():
    page = generate.configuration_page()
    for section_name, section in Config.model_fields.items():
        assert f"\n## {section_name}\n" in page
        for key, field in section.annotation.model_fields.items():
            assert field.description, f"{section_name}.{key} has no description"
            assert f"| `{section_name}.{key}` |" in page
    assert "| `index.memory_budget` | bytes (`4GiB`, `500MB`, or a number) | `4294967296 (4GiB)` |" in page
    assert "| `ray.model_actors` | int or null, >= 1 | `null` |" in page
    assert "| `cluster.method` | one of `graph`, `hdbscan`, `kmeans` | `graph` |" in page
