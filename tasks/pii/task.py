"""The PII stage's Prefect boundary: the ``scrub_pii`` task (and its cached variant for the training pipeline).

Engine, operators, streaming, the residual scan, the recall estimate and scoring live in plain modules
without Prefect beside it (engine.py, ops.py, stream.py, residual.py, estimate.py, score.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from tasks.caching import FilesStillThere, config_digest
from tasks.config import PiiConfig
from tasks.pii.columns import ScrubColumns
from tasks.pii.ops import cache_fingerprint, pseudonym_key
from tasks.pii.score import PiiEvidence
from tasks.pii.subjects import SUBJECT_INDEX
from tasks.refs import DatasetRef
from tasks.runtime import in_prefect_run, progress


# --- Prefect boundary --------------------------------------------------------------------------------
def _work_dir_of(run_dir: Path) -> Path:
    """``<work_dir>/runs/<run_id>`` -> ``<work_dir>``; any other folder is its own work dir."""
    return run_dir.parent.parent if run_dir.parent.name == "runs" else run_dir


def _publish(evidence, run_dir: Path) -> None:
    """The evidence as a Prefect table artifact (counts and metrics only)."""
    from prefect.artifacts import create_table_artifact

    if not in_prefect_run():  # called through .fn() in tests or scripts: the JSON file is the record
        return

    rows = [{"entity": e, "detected": n, **evidence.metrics_by_entity.get(e, {})}
            for e, n in sorted(evidence.counts_by_entity.items())]
    for e, m in evidence.estimated_recall.items():
        if not e.startswith("_"):
            rows.append({"entity": f"{e} (estimated)", "detected": m["inserted"], "recall": m["recall"]})
    rows.append({"entity": "(residual)", "detected": evidence.residual_count, "recall": None})
    rows.append({"entity": "(review list: frequent forms, hashed)", "detected": len(evidence.review), "recall": None})
    create_table_artifact(
        key="pii-evidence", table=rows,
        description=(f"PII scrub of {evidence.docs} documents: {evidence.docs_touched} touched, residual rate "
                     f"{evidence.residual_rate:.4f}, passed={evidence.passed}. "
                     f"Evidence: {run_dir / 'pii_evidence.json'}"),
    )


def _scrub_pii(dataset, pii: PiiConfig, run_dir: Path, gold: Path | None = None, estimate: bool = True,
               columns: ScrubColumns | None = None):
    import json
    import logging

    import pyarrow.parquet as pq
    from prefect import get_run_logger

    from tasks.errors import PiiGateFailed
    from tasks.pii.columns import column_evidence, pooled
    from tasks.pii.gate import judge_scrub
    from tasks.pii.review import review_from_index
    from tasks.pii.score import PiiEvidence, read_jsonl_by_id, score, spans_from_file
    from tasks.pii.stream import ScrubEngine, describe_parquet, resolve_workers, scrub_file
    from tasks.refs import atomic_file

    log = get_run_logger() if in_prefect_run() else logging.getLogger("tunegate.pii")
    run_dir = Path(run_dir)
    key = pseudonym_key(pii, _work_dir_of(run_dir), index=True)
    out, spans_path = run_dir / "scrubbed.parquet", run_dir / "scrubbed.spans.jsonl"
    index_path = run_dir / SUBJECT_INDEX if pii.subject_index else None
    scrubbed_cols, scanned = (columns or ScrubColumns()).plan(pq.read_schema(dataset.uri), dataset.label_is_text)
    failure = None
    # One engine for the scrub and the recall estimate: a scrub done in this process leaves its loaded
    # scrubber (spaCy and the recognizers) for the estimate, instead of loading them twice.
    engine = ScrubEngine(pii, key, resolve_workers(pii.workers), index=index_path is not None)
    try:
        with engine, progress("scrub", dataset.rows, "docs") as bar:
            if pii.runner == "dask":
                stats = _scrub_on_cluster(dataset, pii, key, run_dir, scrubbed_cols, scanned, index_path, bar.update)
            else:
                stats = scrub_file(Path(dataset.uri), out, "text", pii, key, spans_path, index_path=index_path,
                                   progress=bar.update, also=scrubbed_cols[1:], scan=scanned, engine=engine)
    except PiiGateFailed as e:
        failure, stats = e, getattr(e, "stats", None)
        if stats is None:
            raise
    metrics, lost = ({}, None)
    if gold is not None and failure is None and Path(gold).is_file():
        metrics, lost = score(read_jsonl_by_id(Path(gold), "ground-truth"), spans_from_file(spans_path))
    by_column = _estimate(Path(dataset.uri), pii, key, dataset.sha256, scrubbed_cols, engine.local) \
        if estimate and failure is None and pii.estimate_docs else {}
    est = pooled(by_column)
    overall = est.get("_overall", {}).get("recall")
    verdict = judge_scrub(docs=stats.docs, residual_count=stats.residual_count,
                          max_residual_rate=pii.residual_max_rate, recall_by_column=by_column,
                          min_recall=pii.min_estimated_recall)
    if failure is None and verdict.check == "recall":
        (column,), worst = verdict.columns, verdict.recall
        weak = ", ".join(f"{e} {r:.2f}" for e, r in verdict.weak)
        failure = PiiGateFailed(
            f"estimated recall {worst:.3f} on this run's documents" + (f" (column '{column}')" if len(by_column) > 1
                                                                       else "") +
            f" is below pii.min_estimated_recall {pii.min_estimated_recall} (weakest: {weak}); see "
            "pii_evidence.json 'estimated_recall'" + (" and 'columns'" if len(by_column) > 1 else "") + ". Add cue "
            "words, reference patterns or locales for these types, or lower the bar knowingly.")
        for path in (out, spans_path, index_path):  # a failed gate leaves no scrubbed dataset behind
            if path is not None:
                path.unlink(missing_ok=True)
    evidence = PiiEvidence(
        docs=stats.docs, docs_touched=stats.docs_touched, counts_by_entity=dict(sorted(stats.by_entity.items())),
        counts_by_operator=dict(stats.by_operator), residual_count=stats.residual_count,
        residual_rate=round(stats.residual_rate, 6), residual_by_type=dict(sorted(stats.residual.items())),
        metrics_by_entity=metrics, domain_terms_lost=lost, estimated_recall=est,
        residual_at=[{"id": d, "kind": k, "start": a, "end": b, "column": c[0] if c else "text"}
                     for d, k, a, b, *c in stats.residual_at],
        columns=column_evidence(stats, scanned, by_column), passed=failure is None,
        review=review_from_index(index_path, pii.review_min_docs) if index_path is not None and failure is None else [],
    )
    with atomic_file(run_dir / "pii_evidence.json") as tmp:
        tmp.write_text(json.dumps(evidence.model_dump(mode="json"), indent=2))
    _publish(evidence, run_dir)
    log.info("PII scrub: %d docs, %d touched, residual rate %.4f, estimated recall %s, passed=%s",
             evidence.docs, evidence.docs_touched, evidence.residual_rate,
             "-" if overall is None else f"{overall:.3f}", evidence.passed)
    if failure is not None:
        raise failure
    # scrubbed or not, a label is counted unless it is free text (a class set declared for a causal LM is not)
    return describe_parquet(out, scrubbed=True, label_is_text=dataset.label_is_text), evidence


SHARD_WINDOWS = 1  # read windows per shard task: 4,096 documents, ~1 core-minute; many shards balance workers


@task(name="scrub_shard", cache_policy=NONE, persist_result=False)
def scrub_shard(src: str, shard, out: str, columns: list[str], scan: list[str], pii: PiiConfig, key_id: str | None,
                index: bool) -> str:
    """Scrub one shard of a dataset where the task runs (a Dask worker) into folder ``out``; returns it."""
    from tasks.pii.shards import scrub_shard as scrub

    return str(scrub(Path(src), shard, Path(out), columns, scan, pii, key_id, index))


def _scrub_on_cluster(dataset, pii: PiiConfig, key: bytes | None, run_dir: Path, columns: list[str],
                      scan: list[str], index_path: Path | None, progress) -> object:
    """The shards mapped over the Dask scheduler at ``pii.dask_address``, then merged here in order: the same
    files and counts as ``scrub_file`` (``tasks/pii/shards.py``). Shards and results travel as paths; each
    worker takes the key from its own environment, checked against the key's fingerprint."""
    import shutil
    import tempfile

    from prefect.utilities.annotations import unmapped

    from tasks.errors import ConfigError, PseudonymKeyMissing
    from tasks.pii import files
    from tasks.pii.ops import key_fingerprint
    from tasks.pii.shards import merge_shards, plan_shards
    from tasks.runtime import configured_secret

    if not pii.dask_address:
        raise ConfigError("pii.runner is dask but pii.dask_address is not set; set it to the scheduler "
                          "(tcp://host:8786) or use pii.runner: local.")
    if key is not None and not configured_secret(pii.pseudonym_key_env, pii.pseudonym_key_block,
                                                 "pii.pseudonym_key_block"):
        raise PseudonymKeyMissing(f"scrubbing on a Dask cluster needs ${pii.pseudonym_key_env} (or "
                                  "pii.pseudonym_key_block) here and on every worker; a development key never "
                                  "leaves this machine.")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError("pii.runner: dask needs prefect-dask: pip install 'tunegate[cluster]'.") from None
    shards = plan_shards(dataset.rows, files.READ_ROWS, SHARD_WINDOWS)
    # absolute paths on the volume the workers share (their working folder is their own)
    run_dir.mkdir(parents=True, exist_ok=True)
    src, parts = Path(dataset.uri).resolve(), Path(tempfile.mkdtemp(prefix=".scrub-shards-", dir=run_dir.resolve()))
    try:
        with DaskTaskRunner(address=pii.dask_address) as runner:
            futures = runner.map(scrub_shard, {
                "src": unmapped(str(src)), "shard": shards,
                "out": [str(parts / f"{s.index:05d}") for s in shards], "columns": unmapped(columns),
                "scan": unmapped(scan), "pii": unmapped(pii), "key_id": unmapped(key and key_fingerprint(key)),
                "index": unmapped(index_path is not None)})
            done = []
            try:
                for shard, future in zip(shards, futures):
                    done.append(Path(future.result()))
                    progress(shard.stop)
            except BaseException:
                for future in futures:  # the other shards stop too; what they wrote goes with the folder
                    future.wrapped_future.cancel()
                raise
        return merge_shards(done, src, run_dir / "scrubbed.parquet", run_dir / "scrubbed.spans.jsonl",
                            index_path, columns, scan, pii, key)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _estimate(raw: Path, pii: PiiConfig, key: bytes | None, digest: str, columns: list[str],
              scrubber=None) -> dict[str, dict]:
    """Recall estimated per scrubbed column on a seeded sample of the run's own (raw) values; the probed
    copies stay in memory. Column -> the estimate (none for a column without values). ``scrubber``: one
    already loaded for this config (its output depends only on the texts it is given), else one is loaded."""
    import random

    import pyarrow.parquet as pq

    from tasks.pii.estimate import estimate_recall

    seed, out = int(digest[:8], 16), {}
    table = pq.read_table(raw, columns=columns)
    for column in columns:
        texts = [t for t in table.column(column).to_pylist() if t]
        if not texts:
            continue
        sample = random.Random(seed).sample(texts, min(pii.estimate_docs, len(texts)))
        if scrubber is None:
            from tasks.pii.engine import Scrubber  # Presidio and spaCy load when a scrub runs, not on import

            scrubber = Scrubber(pii, key)
        out[column] = estimate_recall(sample, scrubber.detect, pii.locales, seed=seed)
    return out


@task(name="scrub_pii", cache_policy=NONE)
def scrub_pii(dataset: DatasetRef, pii: PiiConfig, run_dir: Path, gold: Path | None = None,
              estimate: bool = True, columns: ScrubColumns | None = None) -> tuple[DatasetRef, PiiEvidence]:
    """Scrub every text column of the dataset (``columns``: how the label and declared non-personal columns
    are treated; ``tasks/pii/columns.py``), gate on residual identifiers in every column, write evidence;
    raise PiiGateFailed above the limit."""
    return _scrub_pii(dataset, pii, Path(run_dir), gold, estimate, columns)


def _scrub_key(p: dict) -> str:
    """Input dataset, PII settings, pseudonym key (pseudonyms depend on it), ground truth; not the run folder.
    The key enters as a keyed fingerprint (``cache_fingerprint``), never as a hash anyone can test a guess on."""
    pii = p["pii"]
    key = pseudonym_key(pii, _work_dir_of(Path(p["run_dir"])), index=True)
    key_id = cache_fingerprint(key) if key else "nokey"
    gold = Path(p["gold"]) if p.get("gold") else None
    gold_id = hashlib.sha256(gold.read_bytes()).hexdigest()[:12] if gold and gold.is_file() else "none"
    key = f"scrub-{p['dataset'].sha256[:24]}-{config_digest(pii)}-{key_id}-{gold_id}-{p.get('estimate', True)}"
    return key + (f"-{config_digest(p['columns'])}" if p.get("columns") else "")  # how the columns are treated


# The training pipeline's scrub: the same data, settings and code reuse the last scrub while its files are there.
scrub_pii_cached = scrub_pii.with_options(
    cache_policy=FilesStillThere(key=_scrub_key, paths=lambda r: [r[0].uri]), persist_result=True)
