"""The evidence pack's signing key and the refusals around it (the pack itself: tests/pipeline/test_pipeline.py)."""

import json
import os
import stat

import pytest

from tasks import keys
from tasks.config import PipelineConfig
from tasks.errors import ConfigError, InputError
from tasks.governance import evidence as ev
from tasks.registry.signing import sha256_hex


def _cfg(tmp_path) -> PipelineConfig:
    return PipelineConfig(name="t-evidence", work_dir=str(tmp_path / "work"))


def test_keygen_writes_a_private_key_once(tmp_path, capsys, monkeypatch):
    from flows.cli import main

    monkeypatch.setenv(ev.KEY_ENV, os.environ[ev.KEY_ENV])  # restored after the test

    path = tmp_path / "keys" / "evidence.key"
    assert main(["evidence", "keygen", str(path)]) == 0
    public = capsys.readouterr().out.split("public key ")[1].split(";")[0]
    assert len(bytes.fromhex(path.read_text().strip())) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert main(["evidence", "keygen", str(path)]) == 2  # InputError: a key is never overwritten
    assert "exists" in capsys.readouterr().err and path.read_bytes() == before
    os.environ[ev.KEY_ENV] = before.decode()
    key, source, dev = keys.signing_key(_cfg(tmp_path).registry_scope)
    assert source == "environment" and keys.public_hex(key) == public and not dev


@pytest.mark.parametrize("value", ["not-hex", "ab" * 16, "ab" * 33])
def test_a_malformed_key_is_a_config_error_that_does_not_quote_it(tmp_path, monkeypatch, value):
    monkeypatch.setenv(ev.KEY_ENV, value)
    with pytest.raises(ConfigError, match=r"64 hex characters") as e:
        keys.signing_key(_cfg(tmp_path).registry_scope)
    assert value not in str(e.value)


def test_without_a_configured_key_a_development_key_is_used_and_named(tmp_path, monkeypatch):
    monkeypatch.delenv(ev.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key, source, dev = keys.signing_key(_cfg(tmp_path).registry_scope)
    path = tmp_path / "config" / "tunegate" / keys.EVIDENCE_DEV
    assert dev and source.startswith("development key") and path.is_file() and not (tmp_path / "work").exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keys.signing_key(_cfg(tmp_path).registry_scope)[0]
    assert keys.public_hex(again) == keys.public_hex(key)  # the same key next time
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "work" / "cfg"))  # never inside the work folder
    with pytest.raises(ConfigError, match="outside the work folder"):
        keys.signing_key(_cfg(tmp_path).registry_scope)


def test_a_pack_never_overwrites_and_bad_packs_are_named(tmp_path, capsys):
    from flows.cli import main

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        ev.build_pack(_cfg(tmp_path).registry_scope, 1, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert main(["evidence", "verify", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    assert main(["evidence", "verify", str(tmp_path / "x.zip")]) == 2
    assert "not a zip file" in capsys.readouterr().err
    assert main(["evidence", "verify", str(tmp_path / "busy"), "--public-key", "ab" * 32]) == 1
    assert "manifest.json is missing" in capsys.readouterr().out
    assert main(["evidence", "--config", "c.yaml"]) == 2  # build needs --version and --out


def test_the_packs_audit_entries_survive_an_edited_log_and_keep_to_the_model(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"model": "m", "action": "promote", "version": 1}\n{"model": "m", "acti\n'
                    '{"model": "other", "action": "promote", "version": 1}\n{"model": "m", "action": "rollback"}\n')
    assert [e["action"] for e in ev.audit_entries(path, "m")] == ["promote", "rollback"]
    assert ev.audit_entries(tmp_path / "none.jsonl", "m") == []


# ---- P13: trusted evidence keys ----------------------------------------------------------------------------
def _registered(tmp_path, name: str = "t-trust"):
    """A real registered version (SQLite MLflow) with a promotion in the audit log: what a pack is made of."""
    import uuid

    from tasks.governance.rollback import move_back
    from tasks.registry.promote import PromotionDecision, apply
    from tasks.registry.versions import register_version
    from tests.registry.test_registry import fake_layout

    cfg = PipelineConfig(name=f"{name}-{uuid.uuid4().hex[:8]}", work_dir=str(tmp_path / "work"))
    v1, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "a", "1"), {}, {}, {})
    v2, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "b", "2"), {}, {}, {})
    for v, before in ((v1, None), (v2, v1)):  # each promoted once, so a rollback may restore it
        apply(cfg, v, PromotionDecision(promote=True, reasons=["test"]), expected_champion=before)
    move_back(cfg.registry_scope, cfg.promotion, v1, reason="to v1")
    move_back(cfg.registry_scope, cfg.promotion, v2, reason="back to v2")
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps({"name": cfg.name, "work_dir": cfg.work_dir}))
    return cfg, cfg_file, v2


def _public(seed_hex: str) -> str:
    return keys.public_hex_of_seed(seed_hex, "test")


def _resign(pack, seed_hex: str, edit=None) -> None:
    """An attacker's re-signing: edit the manifest (or a file), recompute hashes, sign with their own key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    manifest = json.loads((pack / "manifest.json").read_text())
    if edit:
        edit(pack, manifest)
    manifest["files"] = {rel: sha256_hex((pack / rel).read_bytes()) for rel in manifest["files"]}
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    manifest["signature"]["public_key"] = keys.public_hex(key)
    body = ev._json(manifest)
    (pack / "manifest.json").write_bytes(body)
    (pack / "manifest.sig").write_text(key.sign(body).hex())
    (pack / "public_key.txt").write_text(keys.public_hex(key))


def _soften_eval(pack, manifest) -> None:
    (pack / "version" / "eval" / "eval.json").write_text('{"macro_f1": 0.99}')


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_an_edited_pack_resigned_with_another_key_fails_with_its_own_exit_code(tmp_path, capsys):
    from flows.cli import main

    cfg, cfg_file, v = _registered(tmp_path)
    pack = tmp_path / "pack"
    assert main(["evidence", "--config", str(cfg_file), "--version", str(v), "--out", str(pack)]) == 0
    trusted = _public(os.environ[ev.KEY_ENV])
    assert main(["evidence", "verify", str(pack), "--public-key", trusted]) == 0
    capsys.readouterr()
    _resign(pack, "22" * 32, _soften_eval)
    code = main(["evidence", "verify", str(pack)])  # the pack's own key proves nothing: no trusted key given
    assert code == 2 and "TrustedKeyMissing" in capsys.readouterr().err
    code = main(["evidence", "verify", str(pack), "--public-key", trusted])
    assert code == 20 and "not a trusted key" in capsys.readouterr().out
    trust = tmp_path / "trusted.txt"
    trust.write_text(f"# production signer\n{trusted}\n")
    assert main(["evidence", "verify", str(pack), "--trust-file", str(trust)]) == 20
    # the attacker's key trusted by mistake: the version's files still differ from what was signed at registration
    capsys.readouterr()
    assert main(["evidence", "verify", str(pack), "--public-key", _public("22" * 32), "--public-key", trusted]) == 22
    assert "version/eval/eval.json differs from what was signed at registration" in capsys.readouterr().out


def test_a_pack_stripped_of_its_registration_fails_against_the_registry(tmp_path, capsys):
    from flows.cli import main

    cfg, cfg_file, v = _registered(tmp_path)
    pack = tmp_path / "pack"
    ev.build_pack(cfg.registry_scope, v, pack)
    _resign(pack, os.environ[ev.KEY_ENV], lambda p, m: (_soften_eval(p, m), m.update(registration=None)))
    key = _public(os.environ[ev.KEY_ENV])
    assert main(["evidence", "verify", str(pack), "--public-key", key]) == 0  # without the registry: a note only
    assert "without a signed registration manifest" in capsys.readouterr().out
    assert main(["evidence", "verify", str(pack), "--public-key", key, "--config", str(cfg_file)]) == 22


def test_a_development_key_pack_fails_unless_allowed(tmp_path, monkeypatch, capsys):
    from flows.cli import main

    monkeypatch.delenv(ev.KEY_ENV)
    cfg, cfg_file, v = _registered(tmp_path)
    pack = tmp_path / "pack"
    assert main(["evidence", "--config", str(cfg_file), "--version", str(v), "--out", str(pack)]) == 0
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["signature"]["dev_key"] is True
    assert not (tmp_path / "work" / "secrets").exists()  # the development key is not in the work folder
    dev_public = manifest["signature"]["public_key"]
    capsys.readouterr()
    assert main(["evidence", "verify", str(pack), "--public-key", dev_public]) == 21
    assert "development key" in capsys.readouterr().out
    assert main(["evidence", "verify", str(pack), "--allow-dev-key"]) == 0
    # stripping the dev mark breaks the signature; re-signing it is the signer's own key, still known as dev
    _resign(pack, (keys.dev_key_dir() / keys.EVIDENCE_DEV).read_text().strip(),
            lambda p, m: m["signature"].update(dev_key=False))
    assert main(["evidence", "verify", str(pack), "--public-key", dev_public]) == 21


def test_trusted_keys_must_be_keys(tmp_path):
    from tasks.governance.evidence_verify import trusted_keys

    with pytest.raises(ConfigError, match=r"--public-key #2"):
        trusted_keys(["ab" * 32, "xyz"], None, None)
    cfg = PipelineConfig(name="t", registry={"evidence_public_keys": ["ab" * 31]})
    with pytest.raises(ConfigError, match=r"registry.evidence_public_keys\[0\]"):
        trusted_keys([], None, cfg.registry)


def _governed(flow_fn, **params):
    """Run ``flow_fn`` as a deployment's flow run (a real deployment on the test server), return its result."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    with get_client(sync_client=True) as c:
        deployment = c.create_deployment(flow_id=c.create_flow_from_name(flow_fn.name), name="governed")
        flow_run = c.create_flow_run_from_deployment(deployment, parameters=params)
    return run_flow(flow_fn, flow_run=flow_run, parameters=params)


def test_signing_fails_closed_in_a_deployments_run(tmp_path, monkeypatch, prefect_harness):
    from prefect import flow

    from tasks.errors import SigningKeyMissing

    monkeypatch.delenv(ev.KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    @flow(name="t-governed-signing")
    def governed(work: str) -> list[str]:
        out = []
        for step in (keys.signing_key, keys.preflight):  # signing; the retrain's check before any data work
            try:
                step(PipelineConfig(name="t", work_dir=work).registry_scope)
                out.append("signed")
            except SigningKeyMissing as e:
                out.append(f"SigningKeyMissing: {e}")
        return out

    out = _governed(governed, work=str(tmp_path / "work"))
    assert all(o.startswith("SigningKeyMissing") and "TUNEGATE_EVIDENCE_KEY" in o for o in out), out
    assert not (tmp_path / "config").exists() and not (tmp_path / "work").exists()  # no key made up
    cli = PipelineConfig(name="t", work_dir=str(tmp_path / "work")).registry_scope
    assert keys.signing_key(cli)[2] is True  # the CLI: a development key
