"""Every shipped YAML loads; unknown keys and wrong types are ConfigErrors naming the key and the file."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from tasks.config import PipelineConfig, load_config
from tasks.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (ROOT / "examples").rglob("*.y*ml") if "data" not in p.relative_to(ROOT).parts[1:2])


def test_there_are_shipped_configs():
    assert ROOT / "examples" / "claims.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_yaml_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, PipelineConfig)
    assert Path(cfg.data.source).is_absolute() and Path(cfg.work_dir).is_absolute()
    assert len(cfg.digest()) == 64


def _write(tmp_path: Path, doc) -> Path:
    p = tmp_path / "pipeline.yaml"
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


@pytest.mark.parametrize("doc, must_name", [
    ({"data": {"sorce": "x.csv"}}, ["data.sorce", "unknown key"]),
    ({"qualty": {}}, ["qualty", "unknown key"]),
    ({"quality": {"min_rows": "lots"}}, ["quality.min_rows"]),
    ({"quality": {"max_duplicate_text_share": 2}}, ["quality.max_duplicate_text_share"]),
    ({"data": {"format": "xlsx"}}, ["data.format"]),
    ({"data": {"columns": {"text": ["a", "b"]}}}, ["data.columns.text"]),
    ({"train": {"lora": {"r": 0}}}, ["train.lora.r"]),
    ("data: [unclosed", ["not valid YAML"]),
    ("- just\n- a list\n", ["top level"]),
    ({"pii": {"locales": ["uk", "fr"]}}, ["pii.locales.1", "'uk', 'us' or 'eu'"]),
    ({"pii": {"locales": []}}, ["pii.locales", "at least 1"]),
    ({"pii": {"min_estimated_recall": 1.5}}, ["pii.min_estimated_recall"]),
    # a value fitting none of a key's forms: the key once, by its own name, with each form's reason
    ({"train": {"learning_rate": -1}}, ["'train.learning_rate': Input should be greater than 0, or Input should be "
                                        "'auto', or Input should be a valid list"]),
], ids=["nested-unknown", "top-unknown", "wrong-type", "out-of-range", "bad-enum", "list-for-str", "deep",
        "bad-yaml", "not-a-mapping", "unknown-locale", "no-locale", "estimate-bar", "no-form-fits"])
def test_bad_config_names_key_and_file(tmp_path, doc, must_name):
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    for part in must_name:
        assert part in msg, msg


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_config_is_frozen():
    cfg = PipelineConfig()
    with pytest.raises(ValidationError):
        cfg.data.source = "elsewhere"
