"""The training pipeline: ingest → gate → scrub → split → fine-tune → evaluate → decide → register → card.

``tunegate run CONFIG`` runs it; ``tunegate rollback`` moves the champion back. Scrub, split and
fine-tune are cached on (input digest, their config section, code): re-running the same data and config
skips them, any change reruns them. A failure at any stage registers nothing and leaves the champion.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from pydantic import BaseModel, ConfigDict

from tasks.config import DataConfig, PipelineConfig, load_config
from tasks.errors import ConfigError
from tasks.evaluate.metrics import EvalReport, summary_line
from tasks.evaluate.task import evaluate_model
from tasks.refs import DatasetRef, atomic_file, new_run_id
from tasks.registry.promote import Decision, decide_promotion
from tasks.registry.task import apply_decision

ROOT = Path(__file__).resolve().parent.parent


class TrainResult(BaseModel):
    """What one pipeline run produced (no document text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    run_dir: str
    version: int  # the registered candidate
    mlflow_run_id: str
    promoted: bool
    action: str  # promote | reject | pending_approval | lost_race
    decision: Decision
    champion_version: int | None  # after this run
    previous_champion: int | None
    eval: EvalReport
    champion_eval: EvalReport | None
    model_card: str  # path of the card in run_dir (also in MLflow and a Prefect artifact)
    dataset_sha256: str
    config_sha256: str
    code_version: str
    trigger: str
    cached_stages: list[str]
    stage_seconds: dict[str, float]


# ---- cache keys: input digest + config section + code -----------------------------------------------
def _code_digest() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "tasks").rglob("*.py")):
        h.update(p.relative_to(ROOT).as_posix().encode() + p.read_bytes())
    return h.hexdigest()[:16]


CODE_DIGEST = _code_digest()


def _cfg_digest(section) -> str:
    return hashlib.sha256(json.dumps(section.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def _scrub_key(ctx, p: dict) -> str:
    pii = p["pii"]
    secret = os.environ.get(pii.pseudonym_key_env, "") + (pii.pseudonym_key_block or "")
    key_id = hashlib.sha256(b"tunegate-cache:" + secret.encode()).hexdigest()[:12]  # pseudonyms depend on it
    gold = Path(p["gold"]) if p.get("gold") else None
    gold_id = hashlib.sha256(gold.read_bytes()).hexdigest()[:12] if gold and gold.is_file() else "none"
    return f"scrub-{p['dataset'].sha256[:24]}-{_cfg_digest(pii)}-{key_id}-{gold_id}-{CODE_DIGEST}"


def _split_key(ctx, p: dict) -> str:
    return f"split-{p['dataset'].sha256[:24]}-{_cfg_digest(p['split'])}-{CODE_DIGEST}"


def _finetune_key(ctx, p: dict) -> str:
    s = p["split"]
    parts = [s.train.sha256, s.val.sha256 if s.val else "", s.test_ids_sha256]
    data = hashlib.sha256("".join(parts).encode()).hexdigest()[:24]
    return f"finetune-{data}-{_cfg_digest(p['train'])}-{CODE_DIGEST}"


def _cached(t, key_fn, cfg: PipelineConfig):
    from prefect.cache_policies import CachePolicy

    return t.with_options(cache_policy=CachePolicy.from_cache_key_fn(key_fn), persist_result=True,
                          result_storage=cfg.work_path("prefect-results").resolve())


def _run_cached(t, key_fn, cfg: PipelineConfig, name: str, cached: list[str], paths, **kw):
    """Run a cached stage; a cache hit whose files were deleted meanwhile is recomputed."""
    state = _cached(t, key_fn, cfg)(return_state=True, **kw)
    result = state.result()
    if state.name == "Cached":
        if all(Path(p).exists() for p in paths(result)):
            cached.append(name)
            get_run_logger().info("%s: reusing the cached result (same input, config and code)", name)
            return result
        result = _cached(t, key_fn, cfg).with_options(refresh_cache=True)(**kw)
    return result


# ---- small tasks of the pipeline's own -------------------------------------------------------------
@task(name="check_config")
def check_config(cfg: PipelineConfig) -> str:
    """Fail before any data work when the base model is not a local model folder; returns its path."""
    from tasks.predict.classify import resolve_base_model

    if cfg.data.sample is None and not Path(cfg.data.source).exists():
        raise ConfigError(f"data.source: {cfg.data.source} does not exist and data.sample is not set; "
                          "point it at a CSV/JSONL/Parquet file or add a sample: section.")
    return resolve_base_model(cfg.train.base_model)


@task(name="ensure_sample_data")
def ensure_sample_data(data: DataConfig) -> str:
    """Generate the synthetic corpus at ``data.source`` when it does not exist (first run on a fresh machine)."""
    from tasks.ingest.sample_data import write_sample

    src = Path(data.source)
    if not src.exists() and data.sample is not None:
        write_sample(src, rows=data.sample.rows, seed=data.sample.seed)
        get_run_logger().info("generated %d sample documents at %s", data.sample.rows, src)
    return str(src)


@task(name="add_batch")
def add_batch(base: DatasetRef, batch: DatasetRef, out: Path) -> DatasetRef:
    """Training data plus the labelled rows of a production batch (ids already present are skipped)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tasks.ingest.read import parquet_sha256

    a, b = pq.read_table(base.uri), pq.read_table(batch.uri).select(pq.read_schema(base.uri).names)
    b = b.filter(pc.and_(pc.is_valid(b["label"]), pc.invert(pc.is_in(b["id"], a["id"]))))
    table = pa.concat_tables([a, b.cast(a.schema)])
    with atomic_file(out) as tmp:
        pq.write_table(table, tmp)
    counts = {d["values"]: d["counts"] for d in pc.value_counts(table["label"]).to_pylist() if d["values"]}
    get_run_logger().info("added %d labelled rows from the batch (%d rows in all)", b.num_rows, table.num_rows)
    return DatasetRef(uri=str(out), sha256=parquet_sha256(out), rows=table.num_rows, columns=base.columns,
                      label_counts=dict(sorted(counts.items())))


@task(name="decide_promotion")
def decide(candidate: EvalReport, champion: EvalReport | None, cfg: PipelineConfig) -> Decision:
    """The pure promotion decision, recorded as its own step."""
    d = decide_promotion(candidate, champion, cfg.promotion)
    get_run_logger().info("decision: %s — %s", "promote" if d.promote else "keep the champion", "; ".join(d.reasons))
    return d


@task(name="find_champion")
def find_champion(cfg: PipelineConfig):
    """The current champion's VersionRef, or None."""
    from tasks.errors import NoChampion
    from tasks.registry.versions import get_version

    try:
        return get_version(cfg, "champion")
    except NoChampion:
        return None


class _Stages:
    """Wall time per stage, for the progress log and the benchmark."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        stages = self

        class _T:
            def __enter__(self):
                get_run_logger().info("stage %s …", name)
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                stages.seconds[name] = round(time.perf_counter() - self.t, 3)

        return _T()


# ---- the flow ---------------------------------------------------------------------------------------
@flow(name="train_pipeline", log_prints=True)
def train_pipeline(config: PipelineConfig, extra_data: str | None = None, trigger: str = "manual") -> TrainResult:
    """Train a candidate and promote it if it beats the champion.

    1. check the config (the base model must exist) before touching any data
    2. ingest the documents (+ the labelled rows of ``extra_data``) behind the quality gate
    3. scrub PII, split, fine-tune under torchrun (each cached on input + config + code)
    4. evaluate the candidate and the champion on the same test split; decide
    5. register the version (artifacts, tags, card) atomically; apply the decision; publish the card
    """
    # Stage modules load heavy libraries (Presidio, spaCy, torch): imported when the flow runs, not on import.
    from tasks.ingest.task import ingest_documents, quality_gate
    from tasks.pii.task import scrub_pii
    from tasks.registry.card import build_card_facts
    from tasks.registry.task import assemble_version, register_candidate, relog_card, write_model_card
    from tasks.registry.versions import champion_version, code_version, unregister
    from tasks.train.task import launch_finetune, split_dataset

    stage, cached = _Stages(), []
    run_id = new_run_id()
    run_dir = config.work_path("runs", run_id).resolve()
    base_model = check_config(config)
    code = code_version()
    with stage("ingest"):
        ensure_sample_data(config.data)
        dataset = ingest_documents(config.data, run_dir)
        if extra_data:
            batch = ingest_documents(config.data.model_copy(update={"source": extra_data}), run_dir / "batch")
            dataset = add_batch(dataset, batch, run_dir / "dataset_with_batch.parquet")
    with stage("quality_gate"):
        quality = quality_gate(dataset, config.quality, run_dir)
    with stage("scrub"):
        gold = Path(config.data.source + ".pii.jsonl")
        scrubbed, evidence = _run_cached(scrub_pii, _scrub_key, config, "scrub", cached, lambda r: [r[0].uri],
                                         dataset=dataset, pii=config.pii, run_dir=run_dir,
                                         gold=gold if gold.is_file() and not extra_data else None)
    with stage("split"):
        split = _run_cached(split_dataset, _split_key, config, "split", cached,
                            lambda r: [r.train.uri, r.test.uri], dataset=scrubbed, split=config.split, run_dir=run_dir)
    with stage("finetune"):
        adapter = _run_cached(launch_finetune, _finetune_key, config, "finetune", cached,
                              lambda r: [Path(r.path, "manifest.json")], train=config.train, split=split,
                              out_dir=run_dir / "model")
    with stage("evaluate"):
        champion = find_champion(config)
        report = evaluate_model(Path(adapter.path), split.test, run_dir / "eval" / "eval.json", role="candidate")
        champion_report = evaluate_model(champion.local_dir / "model", split.test,
                                         run_dir / "eval" / "champion_eval.json", role="champion") if champion else None
        decision = decide(report, champion_report, config)
    with stage("register"):
        facts = build_card_facts(config, run_id=run_id, base_model=base_model, labels=adapter.labels or report.labels,
                                 split=split, dataset=scrubbed, quality=quality, pii=evidence, candidate=report,
                                 champion=champion_report, champion_version=champion.version if champion else None,
                                 decision=decision, code_version=code, trigger=trigger)
        layout = assemble_version(adapter, split.train, run_dir / "eval" / "eval.json",
                                  run_dir / "pii_evidence.json", config.monitor.reference_rows, config.split.seed,
                                  run_dir / "version")
        tags = _version_tags(config, scrubbed, evidence, code, base_model, trigger, run_id, decision)
        reg = register_candidate(config, layout, config.model_dump(mode="json"),
                                 _run_metrics(report, champion_report, adapter.metrics), tags, facts,
                                 run_dir / "model_card.md")
    with stage("promote"):
        try:
            outcome = apply_decision(config, reg.version, decision, champion.version if champion else None,
                                     trigger, run_id)
        except BaseException:
            if champion_version(config) != reg.version:
                unregister(config, reg.version, reg.mlflow_run_id)
            raise
        final = facts.model_copy(update={"version": reg.version, "mlflow_run_id": reg.mlflow_run_id,
                                         "outcome": outcome.action})
        card = write_model_card(final, run_dir / "model_card.md")
        if outcome.action != facts.outcome:
            relog_card(config, reg.mlflow_run_id, card)
    return TrainResult(
        run_id=run_id, run_dir=str(run_dir), version=reg.version, mlflow_run_id=reg.mlflow_run_id,
        promoted=outcome.promoted, action=outcome.action, decision=decision,
        champion_version=outcome.champion_version, previous_champion=outcome.previous_champion, eval=report,
        champion_eval=champion_report, model_card=str(card), dataset_sha256=scrubbed.sha256,
        config_sha256=config.digest(), code_version=code, trigger=trigger, cached_stages=cached,
        stage_seconds=stage.seconds,
    )


def _version_tags(cfg, dataset, evidence, code, base_model, trigger, run_id, decision) -> dict[str, str]:
    ev = evidence.model_dump(mode="json") if evidence is not None else {}
    pii = {k: ev.get(k) for k in ("docs", "docs_touched", "residual_count", "residual_rate", "passed")}
    pii["entities_replaced"] = sum((ev.get("counts_by_entity") or {}).values())
    pii["estimated_recall"] = (ev.get("estimated_recall") or {}).get("_overall", {}).get("recall")
    return {"dataset_sha256": dataset.sha256, "config_sha256": cfg.digest(), "code_version": code,
            "base_model": base_model, "task": cfg.train.task, "trigger": trigger, "tunegate_run_id": run_id,
            "pii_evidence": json.dumps(pii, sort_keys=True), "decision": "promote" if decision.promote else "reject"}


def _run_metrics(report: EvalReport, champion: EvalReport | None, train_metrics: dict) -> dict[str, float]:
    out = {k: v for k, v in {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "ece": report.ece,
                             "rouge_l": report.rouge_l, "perplexity": report.perplexity}.items() if v is not None}
    out.update({f"f1_{label}": s["f1"] for label, s in report.per_class.items()})
    if champion is not None:
        out.update({f"champion_{k}": v for k in ("macro_f1", "accuracy", "rouge_l", "perplexity")
                    if (v := champion.metric(k)) is not None})
    out.update({f"train_{k}": float(v) for k, v in train_metrics.items()})
    return out


# ---- commands ---------------------------------------------------------------------------------------
def cli_run(args) -> int:
    """``tunegate run CONFIG``."""
    cfg = load_config(args.config)
    result = train_pipeline(cfg)
    verdict = {"promote": "promoted to champion", "reject": "not promoted; the champion stays",
               "pending_approval": "waiting for approval", "lost_race": "not promoted (another run won)"}
    print(f"version {result.version} of {cfg.model_name}: "
          f"{verdict.get(result.action, result.action)} (champion: v{result.champion_version})")
    for reason in result.decision.reasons:
        print(f"  - {reason}")
    print(f"{summary_line(result.eval)} on {result.eval.n} test documents")
    print(f"model card: {result.model_card}")
    if result.cached_stages:
        print(f"reused cached stages: {', '.join(result.cached_stages)}")
    return 0


def cli_rollback(args) -> int:
    """``tunegate rollback --config C --to-version N [--reason R]``."""
    from tasks.registry.versions import rollback

    cfg = load_config(args.config)
    entry = rollback(cfg, args.to_version, args.reason)
    print(f"{cfg.model_name}: champion is now v{args.to_version} (was v{entry['previous_champion']}); "
          f"recorded in {cfg.work_path('audit.jsonl')}")
    return 0
