"""The MLflow registry against a real SQLite store: atomic registration, get_version, rollback, audit."""

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tasks.config import PipelineConfig
from tasks.errors import NoChampion, PromotionError

ROOT = Path(__file__).resolve().parents[2]


def fake_layout(folder: Path, tag: str = "x") -> Path:
    """The version artifact layout with tiny placeholder files (the registry never parses the model)."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "manifest.json").write_text(json.dumps({"tag": tag}))
    (folder / "eval").mkdir()
    (folder / "eval" / "eval.json").write_text("{}")
    (folder / "reference").mkdir()
    (folder / "reference" / "reference.parquet").write_bytes(b"PAR1")
    (folder / "pii_evidence.json").write_text("{}")
    return folder


@pytest.fixture
def cfg(tmp_path):
    return PipelineConfig(name=f"t-reg-{uuid.uuid4().hex[:8]}", work_dir=str(tmp_path / "work"))


def test_tracking_uri_precedence(tmp_path, monkeypatch):
    from tasks.registry.versions import tracking_uri

    cfg = PipelineConfig(work_dir=str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(cfg.registry_scope) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking_uri(cfg.registry_scope) == "http://mlflow.example:5000"
    cfg2 = cfg.model_copy(update={"registry": cfg.registry.model_copy(update={"tracking_uri": "sqlite:///x.db"})})
    assert tracking_uri(cfg2.registry_scope) == "sqlite:///x.db"


def test_register_then_get_version_downloads_layout(cfg, tmp_path):
    from tasks.registry.versions import get_version, register_version

    def finalize(version, run_id):
        p = tmp_path / "card" / "model_card.md"
        p.parent.mkdir()
        p.write_text(f"version {version}")
        return p

    v, run_id = register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {"train": {"lr": 0.1, "mods": ["q"]}},
                                 {"macro_f1": 0.9}, {"dataset_sha256": "abc"}, finalize=finalize)
    ref = get_version(cfg.registry_scope, v)
    assert ref.version == v and ref.run_id == run_id
    assert ref.tags["dataset_sha256"] == "abc" and ref.tags["complete"] == "true"
    assert json.loads((ref.local_dir / "model" / "manifest.json").read_text()) == {"tag": "x"}
    assert (ref.local_dir / "model_card.md").read_text() == f"version {v}"
    assert (ref.local_dir / "reference" / "reference.parquet").exists()
    with pytest.raises(NoChampion, match="no champion"):
        get_version(cfg.registry_scope, "champion")


def test_failure_during_registration_leaves_nothing(cfg, tmp_path):
    from tasks.registry.versions import client_for, register_version

    def boom(version, run_id):
        raise RuntimeError("disk full")

    with pytest.raises(PromotionError, match="nothing was registered"):
        register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {}, {}, {}, finalize=boom)
    assert client_for(cfg.registry_scope).search_model_versions(f"name='{cfg.model_name}'") == []


def test_killed_during_registration_leaves_no_usable_version(cfg, tmp_path):
    """A registration SIGKILLed after the version exists but before it is complete is never served."""
    from tasks.registry.versions import client_for, get_version, register_version, sweep_incomplete

    v1, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {}, {}, {})
    child = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tasks.config import PipelineConfig
        from tasks.registry.versions import register_version
        cfg = PipelineConfig.model_validate_json({cfg.model_dump_json()!r})
        def die(version, run_id):
            os.kill(os.getpid(), signal.SIGKILL)
        register_version(cfg.registry_scope, Path({str(fake_layout(tmp_path / "b"))!r}), {{}}, {{}}, {{}}, finalize=die)
    """)
    proc = subprocess.run([sys.executable, "-c", child], env=os.environ.copy(), capture_output=True, timeout=300)
    assert proc.returncode == -9
    versions = client_for(cfg.registry_scope).search_model_versions(f"name='{cfg.model_name}'")
    half = [int(m.version) for m in versions if int(m.version) != v1]
    assert len(half) == 1  # the half-registered version exists in MLflow …
    with pytest.raises(PromotionError, match="no complete version"):
        get_version(cfg.registry_scope, half[0])  # … but is never served
    assert sweep_incomplete(cfg.registry_scope, older_than_s=0) == half
    assert get_version(cfg.registry_scope, v1).version == v1


def test_rollback_moves_champion_with_audit(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.governance.rollback import move_back
    from tasks.registry.promote import PromotionDecision, apply
    from tasks.registry.versions import champion_version, register_version, set_alias

    v1, _ = register_version(cfg, fake_layout(tmp_path / "a"), {}, {}, {})
    apply(cfg, v1, PromotionDecision(promote=True, reasons=["first"]), None)  # only a version once promoted returns
    v2, _ = register_version(cfg, fake_layout(tmp_path / "b"), {}, {}, {})
    set_alias(cfg, "champion", v2)
    entry = move_back(cfg.registry_scope, cfg.promotion, v1, reason="v2 misroutes fire claims")
    assert champion_version(cfg) == v1
    assert entry["previous_champion"] == v2 and read_audit(cfg)[-1]["reasons"] == ["v2 misroutes fire claims"]
    with pytest.raises(PromotionError, match="no complete version 99"):
        move_back(cfg.registry_scope, cfg.promotion, 99, reason="typo")
    assert champion_version(cfg) == v1
