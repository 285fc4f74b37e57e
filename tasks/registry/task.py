"""The registry stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import json

# ---- from versions --------------------------------------------------------------------------------
import shutil
from pathlib import Path

from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.refs import AdapterRef, DatasetRef, atomic_dir, atomic_file
from tasks.registry.card import CardFacts, render_card
from tasks.registry.promote import Decision, PromotionOutcome
from tasks.registry.versions import client_for, register_version, tracking_uri


class RegisteredVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    model_card: Path


@task(name="assemble_version")
def assemble_version(adapter: AdapterRef, train: DatasetRef, eval_json: Path, pii_evidence: Path | None,
                     reference_rows: int, seed: int, out: Path) -> Path:
    """Lay out a version's artifacts: model/, reference/reference.parquet, eval/eval.json, pii_evidence.json."""
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
        if pii_evidence is not None and Path(pii_evidence).is_file():
            shutil.copy2(pii_evidence, tmp / "pii_evidence.json")
        else:  # PII scrubbing disabled in the config: say so rather than omit the file
            (tmp / "pii_evidence.json").write_text(json.dumps({"scrubbed": False}))
    return out


@task(name="register_candidate")
def register_candidate(cfg: PipelineConfig, layout: Path, params: dict, metrics: dict[str, float],
                       tags: dict[str, str], card_facts, card_out: Path) -> RegisteredVersion:
    """Log the run, register the version with its model card, mark it complete (or leave nothing)."""
    from tasks.registry.card import render_card

    def finalize(version: int, run_id: str) -> Path:
        facts = card_facts.model_copy(update={"version": version, "mlflow_run_id": run_id})
        with atomic_file(card_out) as tmp:
            tmp.write_text(render_card(facts), encoding="utf-8")
        return card_out

    version, run_id = register_version(cfg, layout, params, metrics, tags, finalize=finalize)
    get_run_logger().info("registered %s v%d (MLflow run %s) in %s", cfg.model_name, version, run_id,
                          tracking_uri(cfg))
    return RegisteredVersion(version=version, mlflow_run_id=run_id, model_card=card_out)


def relog_card(cfg: PipelineConfig, run_id: str, card: Path) -> None:
    """Replace a version's model card after the fact (the outcome differed from the decision)."""
    client_for(cfg).log_artifact(run_id, str(card))


# ---- from promote --------------------------------------------------------------------------------
from prefect import task

from tasks.registry.versions import audit, champion_version, clear_alias, registry_lock, set_alias


def apply(
    cfg: PipelineConfig,
    version: int,
    decision: Decision,
    expected_champion: int | None,
    trigger: str = "manual",
    run_id: str | None = None,
) -> PromotionOutcome:
    """Act on a Decision: move ``champion`` if still compared against the current one; audit either way."""
    with registry_lock(cfg):
        current = champion_version(cfg)
        if not decision.promote:
            action, note, new = "reject", "decision: do not promote", current
        elif current != expected_champion:
            action = "lost_race"
            note = (f"champion changed to v{current} while this candidate was compared with "
                    f"{'no champion' if expected_champion is None else f'v{expected_champion}'}; re-run to compare")
            new = current
        elif cfg.promotion.require_approval:
            action, note, new = "pending_approval", (
                f"approval required: approve with `tunegate rollback --to-version {version} --reason approved`"), current
        else:
            set_alias(cfg, "champion", version)
            clear_alias(cfg, "challenger", only_if=version)  # the challenger alias names the latest candidate not in use
            action, note, new = "promote", "champion alias moved", version
        audit(cfg, action=action, version=version, previous_champion=current, champion=new, trigger=trigger,
              reasons=decision.reasons + ([note] if note else []), run_id=run_id)
    return PromotionOutcome(promoted=action == "promote", action=action, version=version, champion_version=new,
                            previous_champion=current, note=note)


@task(name="apply_decision")
def apply_decision(
    cfg: PipelineConfig,
    version: int,
    decision: Decision,
    expected_champion: int | None,
    trigger: str = "manual",
    run_id: str | None = None,
) -> PromotionOutcome:
    """Apply the promotion decision for ``version`` in the registry (under the lock) and audit it."""
    outcome = apply(cfg, version, decision, expected_champion, trigger, run_id)
    get_run_logger().info("v%d: %s (champion now %s)", version, outcome.action, outcome.champion_version)
    return outcome


# ---- from card --------------------------------------------------------------------------------
from prefect import task
from prefect.artifacts import create_markdown_artifact


@task(name="write_model_card")
def write_model_card(facts: CardFacts, out: Path) -> Path:
    """Write the card to ``out`` and publish it as a Prefect Markdown artifact."""
    text = render_card(facts)
    with atomic_file(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    key = f"model-card-{facts.model_name}".lower().replace("_", "-").replace(".", "-")
    create_markdown_artifact(markdown=text, key=key, description=f"{facts.model_name} v{facts.version} model card")
    return out
