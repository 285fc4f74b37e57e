"""The evidence pack's signing key and the refusals around it (the pack itself: tests/test_pipeline.py)."""

import os
import stat

import pytest

from tasks.config import PipelineConfig
from tasks.errors import ConfigError, InputError
from tasks.registry import evidence as ev


def _cfg(tmp_path) -> PipelineConfig:
    return PipelineConfig(name="t-evidence", work_dir=str(tmp_path / "work"))


def test_keygen_writes_a_private_key_once(tmp_path, capsys):
    from flows.cli import main

    path = tmp_path / "keys" / "evidence.key"
    assert main(["evidence", "keygen", str(path)]) == 0
    public = capsys.readouterr().out.split("public key ")[1].split(";")[0]
    assert len(bytes.fromhex(path.read_text().strip())) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert main(["evidence", "keygen", str(path)]) == 2  # InputError: a key is never overwritten
    assert "exists" in capsys.readouterr().err and path.read_bytes() == before
    os.environ[ev.KEY_ENV] = before.decode()
    try:
        key, source = ev.signing_key(_cfg(tmp_path))
        assert source == "environment" and ev._public_hex(key) == public
    finally:
        del os.environ[ev.KEY_ENV]


@pytest.mark.parametrize("value", ["not-hex", "ab" * 16, "ab" * 33])
def test_a_malformed_key_is_a_config_error_that_does_not_quote_it(tmp_path, monkeypatch, value):
    monkeypatch.setenv(ev.KEY_ENV, value)
    with pytest.raises(ConfigError, match=r"64 hex characters") as e:
        ev.signing_key(_cfg(tmp_path))
    assert value not in str(e.value)


def test_without_a_configured_key_a_development_key_is_used_and_named(tmp_path, monkeypatch):
    monkeypatch.delenv(ev.KEY_ENV, raising=False)
    key, source = ev.signing_key(_cfg(tmp_path))
    assert source.startswith("development key") and (tmp_path / "work" / "secrets" / "evidence.key").is_file()
    assert ev._public_hex(ev.signing_key(_cfg(tmp_path))[0]) == ev._public_hex(key)  # the same key next time


def test_a_pack_never_overwrites_and_bad_packs_are_named(tmp_path, capsys):
    from flows.cli import main

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        ev.build_pack(_cfg(tmp_path), 1, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert main(["evidence", "verify", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    assert main(["evidence", "verify", str(tmp_path / "x.zip")]) == 2
    assert "not a zip file" in capsys.readouterr().err
    assert main(["evidence", "verify", str(tmp_path / "busy")]) == 1
    assert "manifest.json is missing" in capsys.readouterr().out
    assert main(["evidence", "--config", "c.yaml"]) == 2  # build needs --version and --out


def test_the_packs_audit_entries_survive_an_edited_log_and_keep_to_the_model(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"model": "m", "action": "promote", "version": 1}\n{"model": "m", "acti\n'
                    '{"model": "other", "action": "promote", "version": 1}\n{"model": "m", "action": "rollback"}\n')
    assert [e["action"] for e in ev.audit_entries(path, "m")] == ["promote", "rollback"]
    assert ev.audit_entries(tmp_path / "none.jsonl", "m") == []
