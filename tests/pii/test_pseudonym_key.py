"""The pseudonymisation key: 32 bytes at least, never empty, a development key only where the config says so
(``pii.allow_dev_key``) and never in a deployment's runs, and no plain hash of it in a cache key."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.config import PiiConfig
from tasks.errors import PseudonymKeyMissing
from tasks.pii.ops import pseudonym_key, resolve_pseudonym_key

ROOT = Path(__file__).resolve().parents[2]
ENV = "TG_KEY_UNDER_TEST"
GOOD = "k" * 32
PSEUDONYMS = {"operators": {"PERSON": "pseudonym"}, "pseudonym_key_env": ENV}


def test_an_empty_key_file_is_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    key_file = tmp_path / "secrets" / "pii.key"
    key_file.parent.mkdir()
    key_file.write_text("\n")
    with pytest.raises(PseudonymKeyMissing, match="pii.allow_dev_key"):
        pseudonym_key(PiiConfig(**PSEUDONYMS), tmp_path)
    key = pseudonym_key(PiiConfig(**PSEUDONYMS, allow_dev_key=True), tmp_path)  # treated as missing: a new one
    assert len(key) >= 32 and key_file.read_text().strip().encode() == key


def test_an_empty_variable_is_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "")
    with pytest.raises(PseudonymKeyMissing, match=rf"\${ENV}"):
        pseudonym_key(PiiConfig(**PSEUDONYMS), tmp_path)
    assert not (tmp_path / "secrets").exists()


def test_a_short_key_is_refused_by_name_and_never_quoted(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "0123456789")  # 10 bytes
    with pytest.raises(PseudonymKeyMissing, match=rf"\${ENV}.*32 bytes") as err:
        pseudonym_key(PiiConfig(**PSEUDONYMS), tmp_path)
    assert "0123456789" not in str(err.value) and type(err.value).__name__ == "PseudonymKeyTooShort"
    monkeypatch.setenv(ENV, GOOD)
    assert pseudonym_key(PiiConfig(**PSEUDONYMS), tmp_path) == GOOD.encode()
    key_file = tmp_path / "dev" / "secrets" / "pii.key"  # a short development key file is refused too
    key_file.parent.mkdir(parents=True)
    key_file.write_text("short")
    monkeypatch.delenv(ENV)
    with pytest.raises(PseudonymKeyMissing, match="pii.key.*32 bytes"):
        resolve_pseudonym_key(ENV, None, tmp_path / "dev", allow_dev=True)


def test_the_cli_fails_closed_without_a_key_unless_the_config_allows_a_dev_key(tmp_path):
    cfg = {"name": "k", "work_dir": str(tmp_path / "work"), "pii": {**PSEUDONYMS, "estimate_docs": 0}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "1", "text": "Jane Doherty called."}\n')
    env = {k: v for k, v in os.environ.items() if k != ENV}
    run = subprocess.run([sys.executable, "-m", "flows.cli", "scrub", "--config", str(path), "--input", str(docs),
                          "--output", str(tmp_path / "out.jsonl")], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "PseudonymKeyMissing" in run.stderr and "pii.allow_dev_key" in run.stderr
    assert not (tmp_path / "work" / "secrets").exists() and not (tmp_path / "out.jsonl").exists()
    # the example config allows a development key, and says why (its corpus is synthetic)
    example = (ROOT / "examples" / "claims.yaml").read_text()
    assert yaml.safe_load(example)["pii"]["allow_dev_key"] is True and "synthetic" in example.split("allow_dev_key")[1]


def test_a_deployments_run_fails_closed_even_where_the_config_allows_a_dev_key(tmp_path, monkeypatch):
    import tasks.runtime as runtime

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(runtime, "in_deployment_run", lambda: True)
    with pytest.raises(PseudonymKeyMissing):
        pseudonym_key(PiiConfig(**PSEUDONYMS, allow_dev_key=True), tmp_path)
    assert not (tmp_path / "secrets").exists()


def test_the_scrub_cache_key_holds_a_keyed_fingerprint_never_a_plain_hash(tmp_path, monkeypatch):
    from tasks.pii.task import _scrub_key
    from tasks.refs import DatasetRef

    monkeypatch.setenv(ENV, GOOD)
    ds = DatasetRef(uri=str(tmp_path / "d.parquet"), sha256="a" * 64, rows=1, columns={})
    pii = PiiConfig(**PSEUDONYMS)
    key = _scrub_key({"dataset": ds, "pii": pii, "run_dir": tmp_path / "runs" / "r1", "gold": None})
    plain = [hashlib.sha256(b"tunegate-cache:" + GOOD.encode()).hexdigest()[:12],
             hashlib.sha256(GOOD.encode()).hexdigest()[:12]]
    assert not any(p in key for p in plain)
    assert hmac.new(GOOD.encode(), b"tunegate-cache-fingerprint", hashlib.sha256).hexdigest()[:16] in key
    monkeypatch.setenv(ENV, "m" * 32)  # another key, another cache entry (its pseudonyms differ)
    assert _scrub_key({"dataset": ds, "pii": pii, "run_dir": tmp_path / "runs" / "r1", "gold": None}) != key
