"""P13: `predict --output` never writes onto tunegate's own records.

The rule: the output may not resolve inside the work folder (audit log and head, keys under secrets/,
mlflow.db and mlartifacts/, the stack's credential, erasure lists, runs/, the prediction store and every run
folder of predictions/), inside the folder the monitor reads (``deploy.monitor_batch``), or onto a local
MLflow database outside the work folder. Symlinks and ``..`` are resolved first.
"""

from __future__ import annotations

import os

import pytest
import yaml

from tasks.config import load_config
from tasks.errors import InputError

PROTECTED = [
    "work/audit.jsonl", "work/audit.head", "work/secrets/evidence.key", "work/mlflow.db", "work/stack/api-auth",
    "work/stack/stack.json", "work/erasure/requests.jsonl", "work/runs/r1/model/adapter.safetensors",
    "work/predictions/2026-12-07/part.parquet", "work/predictions/out.csv", "work/mlartifacts/1/x", "work",
    "work/prefect/prefect.db", "exports/../work/audit.jsonl", "incoming/batch-9.jsonl", "incoming",
    "tracking/mlflow.db", "tracking/mlflow.db-journal", "link-to-work/audit.jsonl", "link-to-audit",
]
ALLOWED = ["exports/preds.csv", "work-exports/preds.jsonl", "preds.parquet", "incoming-archive/p.csv",
           "tracking/other.csv"]


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "audit.jsonl").write_text("{}\n")
    (tmp_path / "link-to-work").symlink_to(tmp_path / "work")
    (tmp_path / "link-to-audit").symlink_to(tmp_path / "work" / "audit.jsonl")
    raw = {"name": "out-test", "work_dir": "work", "deploy": {"monitor_batch": str(tmp_path / "incoming")},
           "registry": {"tracking_uri": f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)  # a relative work_dir, as the example config has
    return load_config(tmp_path / "p.yaml")


@pytest.mark.parametrize("out", PROTECTED)
def test_output_onto_tunegates_records_is_refused(cfg, out):
    from tasks.predict.output import check_output

    with pytest.raises(InputError, match="--output") as err:
        check_output(cfg.registry_scope, cfg.deploy.monitor_batch, out)
    assert "predictions" in str(err.value) or "work" in str(err.value)


@pytest.mark.parametrize("out", ALLOWED)
def test_output_elsewhere_is_allowed(cfg, out, tmp_path):
    from tasks.predict.output import check_output

    assert check_output(cfg.registry_scope, cfg.deploy.monitor_batch, out) == (tmp_path / out).resolve()


def test_absolute_paths_are_judged_the_same(cfg, tmp_path):
    from tasks.predict.output import check_output

    with pytest.raises(InputError):
        check_output(cfg.registry_scope, cfg.deploy.monitor_batch, str(tmp_path / "work" / "audit.jsonl"))
    out = check_output(cfg.registry_scope, cfg.deploy.monitor_batch, str(tmp_path / "exports" / "p.csv"))
    assert out == tmp_path / "exports" / "p.csv"


def test_the_environment_tracking_database_is_protected_too(tmp_path, monkeypatch):
    from tasks.predict.output import check_output

    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "o", "work_dir": str(tmp_path / "w")}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env' / 'mlflow.db'}")
    with pytest.raises(InputError):
        check_output(load_config(tmp_path / "p.yaml").registry_scope, None, str(tmp_path / "env" / "mlflow.db"))


def test_the_predict_flow_refuses_before_reading_anything(cfg, tmp_path, prefect_harness):  # its tasks need a server
    """The flow itself checks (the deployment's form and `tunegate predict` both reach it), before any model
    or input is read: the input here does not exist and there is no champion."""
    from flows.predict import predict

    audit = tmp_path / "work" / "audit.jsonl"
    before = audit.read_bytes()
    with pytest.raises(InputError, match="--output"):
        predict.fn(cfg, str(tmp_path / "missing.csv"), os.path.relpath(audit, tmp_path))
    assert audit.read_bytes() == before
    assert not (tmp_path / "work" / "predictions").exists()

