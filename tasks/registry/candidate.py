"""What a registered version carries besides its model: the candidate's references, the version folder's
layout and the JSON records of its evidence pack (digests, counts and reports; never document text)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.stats import ValidationReport
from tasks.refs import AdapterRef, DatasetRef, SplitRef, atomic_dir
from tasks.registry.promote import PromotionDecision


class Candidate(BaseModel):
    """Everything one pipeline run knows about the model it trained (references and reports, no text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    run_dir: Path
    base_model: str
    trigger: str
    dataset: DatasetRef  # the scrubbed dataset
    quality: dict  # QualityReport as a dict
    pii: dict | None  # PiiEvidence as a dict
    split: SplitRef
    model: AdapterRef
    report: EvalReport
    champion_report: EvalReport | None
    champion_version: int | None
    decision: PromotionDecision
    baseline_report: EvalReport | None = None  # TF-IDF + logistic regression on the same split
    raw_dataset: DatasetRef | None = None  # the ingested rows before scrubbing (digest and counts only)
    membership: dict | None = None  # tasks/evaluate/membership.py's result
    validation: ValidationReport | None = None  # tasks/evaluate/stats.py: intervals, McNemar, slices
    checks: dict | None = None  # validate_model's {"calibration": ..., "robustness": ...} (tasks/evaluate/task.py)
    records: dict[str, dict] = {}  # governance's records for the version (envelope.json, compute.json)


def version_records(config_json: dict, config_sha256: str, c: Candidate, code: str) -> dict[str, dict]:
    """The JSON records a version carries for its evidence pack (digests and counts, never text); ``config_json``:
    the pipeline config as JSON, ``config_sha256`` its digest."""

    def digest(ref: DatasetRef | None) -> dict | None:
        return None if ref is None else {"sha256": ref.sha256, "rows": ref.rows, "label_counts": ref.label_counts}

    def located(ref: DatasetRef | None) -> dict | None:
        return None if ref is None else {**digest(ref), "uri": ref.uri}

    split = c.split
    lineage = {"run_id": c.run_id, "trigger": c.trigger, "base_model": c.base_model, "code_version": code,
               "config_sha256": config_sha256, "raw_dataset": digest(c.raw_dataset),
               "scrubbed_dataset": digest(c.dataset),
               "split": {"dataset_sha256": split.dataset_sha256, "seed": split.seed,
                         "test_ids_sha256": split.test_ids_sha256, "train": digest(split.train),
                         # where revalidation finds the parts (tasks/governance/revalidation.py), by digest
                         "val": located(split.val), "test": located(split.test)},
               "champion_version_at_decision": c.champion_version,
               "decision": {"promote": c.decision.promote, "reasons": c.decision.reasons}}
    from tasks.train.split import trained_ids

    out = {"trained_ids.json": {"hash": "first 16 hex digits of SHA-256(id)", "parts": ["train", "val"],
                                "ids": trained_ids(split)},
           "lineage.json": lineage, "config.json": config_json, "quality.json": c.quality}
    if c.membership is not None:
        out["memorisation.json"] = c.membership
    for name, record in (c.checks or {}).items():  # calibration.json, robustness.json
        out[f"eval/{name}.json"] = record
    if c.champion_report is not None:
        out["eval/champion_eval.json"] = c.champion_report.model_dump(mode="json")
    if c.baseline_report is not None:
        out["eval/baseline_eval.json"] = c.baseline_report.model_dump(mode="json")
    if c.validation is not None:
        out["eval/validation.json"] = c.validation.model_dump(mode="json")
    return out | c.records


def assemble_version(adapter: AdapterRef, train: DatasetRef, eval_json: Path, pii_evidence: Path | None,
                     reference_rows: int, seed: int, out: Path, records: dict[str, dict] | None = None) -> Path:
    """Lay out a version's artifacts: model/, reference/reference.parquet, eval/eval.json, pii_evidence.json,
    and ``records`` (relative path -> JSON: lineage, config, quality, champion and baseline evaluations)."""
    import pandas as pd

    with atomic_dir(out) as tmp:
        shutil.copytree(adapter.path, tmp / "model")
        df = pd.read_parquet(train.uri, columns=["id", "text", "label"])
        if len(df) > reference_rows:
            df = df.sample(n=reference_rows, random_state=seed).sort_values("id")
        (tmp / "reference").mkdir()
        df.to_parquet(tmp / "reference" / "reference.parquet", index=False)
        (tmp / "eval").mkdir()
        shutil.copy2(eval_json, tmp / "eval" / "eval.json")
        for extra in sorted(Path(eval_json).parent.glob("*.png")):  # the validation's pictures (evaluate/plots.py)
            shutil.copy2(extra, tmp / "eval" / extra.name)
        if pii_evidence is not None and Path(pii_evidence).is_file():
            shutil.copy2(pii_evidence, tmp / "pii_evidence.json")
        else:  # PII scrubbing disabled in the config: say so rather than omit the file
            (tmp / "pii_evidence.json").write_text(json.dumps({"scrubbed": False}))
        for rel, record in (records or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return out


def auto_record(model_dir: str) -> dict:
    """What training chose from the data (``auto`` in metrics.json), for the card."""
    path = Path(model_dir, "metrics.json")
    return json.loads(path.read_text()).get("auto", {}) if path.is_file() else {}
