"""Benchmark the monitor flow: wall time per step on 10k and 100k documents, and CFPB real drift.

    .venv/bin/python benchmarks/monitor_bench.py                      # 10k and 100k sample documents
    .venv/bin/python benchmarks/monitor_bench.py --sizes 2000 10000   # a quicker look at the scaling
    .venv/bin/python benchmarks/monitor_bench.py --cfpb-only          # only the CFPB oldest-vs-newest report

A small champion is trained first (not timed). Per-step figures are the seconds inside each task body as
Prefect recorded them. The baseline is the smallest size: ``scaling`` is (wall / rows) relative to it,
so 1.0 means linear. Targets (issue 6): 10k ≤60 s and 100k ≤10 min on 2 cores. The reference and the
batch are sampled to bounded sizes (monitor.reference_rows, current_sample_rows, embedding_rows), so only
ingest, scrub, predict and logging grow with the batch. ``--score-rows N`` also runs each size with
``monitor.score_rows: N`` (scrub, predict and log a seeded sample of N documents; ingest and the gate still
read the whole batch), so cost stays nearly flat beyond N:

    .venv/bin/python benchmarks/monitor_bench.py --no-cfpb --sizes 10000 100000 --score-rows 2000 --full-max 10000

A prediction log of a million documents (the store ``tunegate predict`` writes: scrubbed text, prediction,
confidence, a 384-wide float16 embedding per row), monitored as the monitor does once predict has logged the
batch: the batch's sample profile (``profile_batch``: only the drawn rows are read) and the drift report
against a 2,000-row reference, each size in a fresh process whose peak RSS is reported (target: ≤60 s, memory
flat in the log's size; ``monitor_cpu_s``: the same step's CPU time, which a busy machine does not inflate).
No champion is trained for this part:

    .venv/bin/python benchmarks/monitor_bench.py --no-cfpb --sizes --predict-log 100000 1000000

Default settings (``score_rows: auto``), and the batch first scored by ``tunegate predict`` so that the
monitor reuses its log (``--after-predict``: predict's own time is reported beside it):

    .venv/bin/python benchmarks/monitor_bench.py --no-cfpb --sizes 10000 100000 --score-rows auto --full-max 0 \
        --after-predict 10000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.report import emit  # noqa: E402
from tasks.runtime import offline_environment  # noqa: E402

_HOME = Path(tempfile.mkdtemp(prefix="tunegate-monbench-"))
os.environ.setdefault("PREFECT_HOME", str(_HOME / "prefect"))
offline_environment()
os.environ.setdefault("TUNEGATE_PII_KEY", "benchmark-key-not-secret-32-bytes")
os.environ.pop("MLFLOW_TRACKING_URI", None)

CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"


def task_times(flow_run_id) -> dict[str, float]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                     task_run_filter=TaskRunFilter(), limit=200)
    out: dict[str, float] = {}
    for r in runs:
        name = r.name.rsplit("-", 1)[0] if "-" in r.name else r.name
        out[name] = round(out.get(name, 0.0) + float(r.total_run_time.total_seconds()), 2)
    return out


def champion_config(work: Path):
    from tasks.config import load_config

    cfg = load_config(ROOT / "examples" / "claims.yaml")
    data = cfg.data.model_copy(update={"source": str(work / "data" / "claims.jsonl"),
                                       "sample": cfg.data.sample.model_copy(update={"rows": 600, "seed": 7})})
    # the champion only has to exist: its quality does not change the monitor's cost
    train = cfg.train.model_copy(update={"max_steps": 30, "max_length": 64, "nproc_per_node": 1})
    promotion = cfg.promotion.model_copy(update={"floors": {"macro_f1": 0.0}})
    return cfg.model_copy(update={"name": f"bench-mon-{uuid.uuid4().hex[:6]}", "work_dir": str(work / "work"),
                                  "data": data, "train": train, "promotion": promotion})


def monitor_once(cfg, rows: int, work: Path) -> dict:
    from flows.monitor import monitor
    from tasks.ingest.sample_data import write_sample

    batch = work / f"batch-{rows}.jsonl"
    if not batch.exists():
        write_sample(batch, rows=rows, seed=1000 + rows)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    state = monitor(cfg, str(batch), return_state=True)
    wall = time.perf_counter() - t0
    result = state.result()
    return {"rows": rows, "score_rows": cfg.monitor.score_rows, "scored": result.rows, "wall_s": round(wall, 1),
            "predictions": result.predictions,
            "steps_s": task_times(state.state_details.flow_run_id), "drift": result.drift, "reasons": result.reasons,
            "load_avg_start": load0, "load_avg_end": os.getloadavg()[0]}


def predict_then_monitor(cfg, rows: int, work: Path) -> dict:
    """``tunegate predict`` over the whole batch (timed), then the monitor on the same batch (timed): it
    finds the logged predictions and embeddings and scrubs and scores nothing."""
    from flows.predict import predict

    batch = work / f"batch-{rows}.jsonl"
    t0 = time.perf_counter()
    state = predict(cfg, str(batch), str(work / f"predictions-{rows}.csv"), return_state=True)
    predict_s = time.perf_counter() - t0
    logged = state.result().logged
    out = monitor_once(cfg, rows, work)
    out.update({"after_predict": True, "predict_wall_s": round(predict_s, 1),
                "predict_steps_s": task_times(state.state_details.flow_run_id),
                "reused": out.pop("predictions") == logged})
    return out


def cfpb_drift(model_dir: Path | None = None) -> dict:
    """Oldest vs newest years of the CFPB complaints by date_received: descriptors + MiniLM embeddings.

    With ``model_dir`` (a classifier trained on CFPB, e.g. by quality_bench.py), the same comparison the
    monitor makes: the champion's predictions, confidences and embeddings from its scoring pass; and a
    control, two disjoint random samples of the whole file, where no drift should be found.
    """
    import numpy as np
    import pandas as pd

    from tasks.config import MonitorConfig
    from tasks.monitor.descriptors import (
        compile_domain_patterns,
        describe_texts,
        embed_texts,
        load_vocab,
        minilm_path,
    )
    from tasks.monitor.drift import compute_drift, summary_table
    from tasks.monitor.policy import should_retrain

    if not CFPB.is_file():
        return {"skipped": "file absent"}
    df = pd.read_csv(CFPB)
    df["year"] = pd.to_datetime(df["date_received"], format="mixed", errors="coerce").dt.year
    df = df.dropna(subset=["year", "text"]).sort_values("year")
    years = sorted(df["year"].unique())

    def take(ys):  # whole years from one end until at least 200 documents
        picked = []
        for y in ys:
            picked.append(y)
            if (df["year"].isin(picked)).sum() >= 200:
                break
        return df[df["year"].isin(picked)], [int(y) for y in picked]

    old, old_years = take(years)
    new, new_years = take(list(reversed(years)))
    vocab, codes = load_vocab(str(minilm_path())), compile_domain_patterns([r"\bX{2,}\b"], [])
    m = MonitorConfig()

    def verdict(a, b, with_model: bool) -> dict:
        frames = []
        for part in (a, b):
            texts = part["text"].astype(str).tolist()
            frame = describe_texts(texts, vocab, codes)
            if with_model:
                from tasks.predict.batch import score_frame

                preds, emb = score_frame([str(i) for i in range(len(texts))], texts, model_dir, 0, embed=True)
                frame["prediction"], frame["confidence"] = preds["prediction"].to_numpy(), preds["confidence"]
            else:
                emb = embed_texts(texts, max_length=64)
            frames.append((frame, emb))
        report = compute_drift(frames[0][0], frames[1][0], drift_share=m.drift_share,
                               embedding_threshold=m.embedding_drift_threshold, reference_emb=frames[0][1],
                               current_emb=frames[1][1], include_prediction=with_model)
        decision = should_retrain(report, m)
        return {"drift": decision.drift, "reasons": decision.reasons, "checks": summary_table(report)}

    out = {"reference_years": sorted(old_years), "current_years": sorted(new_years),
           "reference_rows": len(old), "current_rows": len(new), **verdict(old, new, False)}
    if model_dir is not None:
        out["champion"] = verdict(old, new, True)
        idx = np.random.default_rng(0).permutation(len(df))
        half = min(len(old) + len(new), len(df) // 2) // 2
        out["champion_control"] = verdict(df.iloc[idx[:half]], df.iloc[idx[half:2 * half]], True)
        out["champion_control"]["rows"] = half
    return out


def write_predict_log(path: Path, rows: int, seed: int, dim: int = 384) -> Path:
    """A prediction-store file of ``rows`` documents (tasks/predict/store.py's columns and metadata), written
    in row groups of 65,536 rows; texts from the sample corpus, embeddings random."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.ingest.sample_data import LABELS, iter_sample
    from tasks.predict.store import META

    texts = [rec["text"] for rec, _ in iter_sample(min(rows, 20_000), seed)]
    rng, writer, group = np.random.default_rng(seed), None, 65_536
    now = pa.scalar(time.time_ns() // 1000, pa.timestamp("us", tz="UTC"))
    for start in range(0, rows, group):
        n = min(group, rows - start)
        emb = rng.standard_normal((n, dim), dtype=np.float32).astype(np.float16).ravel()
        table = pa.table({
            "id": [f"doc-{i:08d}" for i in range(start, start + n)],
            "text": [texts[i % len(texts)] for i in range(start, start + n)],
            "prediction": [LABELS[i % len(LABELS)] for i in rng.integers(0, len(LABELS), n)],
            "confidence": rng.uniform(0.4, 1.0, n), "model_version": np.ones(n, dtype=np.int64),
            "document_timestamp": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "logged_at": pa.array([now.value] * n, pa.timestamp("us", tz="UTC")),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), dim)})
        if writer is None:
            meta = {META: json.dumps({"batch_sha256": f"bench-{rows}", "model_version": 1, "complete": True})}
            writer = pq.ParquetWriter(path, table.schema.with_metadata(meta))
        writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
    writer.close()
    labels = pa.table({"id": [f"doc-{i:08d}" for i in range(rows)], "label": [LABELS[i % 8] for i in range(rows)]})
    pq.write_table(labels, path.with_suffix(".labels.parquet"))
    return path


def read_predict_log(log: Path, reference: Path) -> dict:
    """In this (fresh) process: the reference profile, then, timed, the batch's profile from its log and the drift
    report; the process's peak RSS before and after."""
    import resource

    from tasks.config import MonitorConfig
    from tasks.monitor.drift import compute_drift
    from tasks.monitor.sampling import sample_log
    from tasks.monitor.task import profile_batch

    m = MonitorConfig()
    ref = profile_batch.fn(reference, None, m.reference_rows, m.embedding_rows, [], [])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    cur = profile_batch.fn(log, log.with_suffix(".labels.parquet"), m.current_sample_rows, m.embedding_rows, [], [])
    profile_s = time.perf_counter() - t0
    report = compute_drift(ref[0], cur[0], drift_share=m.drift_share, embedding_threshold=m.embedding_drift_threshold,
                           reference_emb=ref[1], current_emb=cur[1])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, read = sample_log(log, m.current_sample_rows, 3, ["id"])
    return {"log_rows": read.rows, "row_groups": read.row_groups, "row_groups_read": read.row_groups_read,
            "rows_materialised": read.kept, "profile_s": round(profile_s, 1), "monitor_s": round(wall, 1),
            "monitor_cpu_s": round(cpu, 1),
            "checks": len(report.checks), "current_rows": report.current_rows, "peak_rss_mb_before": round(rss0),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "log_mb": round(log.stat().st_size / 2**20)}


def predict_log_figures(sizes: list[int]) -> list[dict]:
    import subprocess

    work = Path(tempfile.mkdtemp(prefix="monitor-log-bench-"))
    reference = write_predict_log(work / "reference.parquet", 2000, seed=1)
    out = []
    for n in sizes:
        t0 = time.perf_counter()
        log = write_predict_log(work / f"log-{n}.parquet", n, seed=2)
        made = round(time.perf_counter() - t0, 1)
        run = subprocess.run([sys.executable, __file__, "--read-log", str(log), str(reference)], capture_output=True,
                             text=True, check=True)
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        out.append({**figures, "write_log_s": made, "load_avg": os.getloadavg()})
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
        log.unlink()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    p.add_argument("--cfpb-only", action="store_true")
    p.add_argument("--no-cfpb", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--score-rows", type=lambda v: v if v == "auto" else int(v), nargs="*", default=[],
                   help="also run each size with monitor.score_rows set (sampled scoring): a number, or auto "
                        "(the default: as many as the drift tests need)")
    p.add_argument("--full-max", type=int, default=10**9,
                   help="score every document only for sizes up to this (bigger sizes run sampled only)")
    p.add_argument("--cfpb-model", type=Path, default=None,
                   help="a CFPB classifier's model folder: also test drift with its predictions and embeddings")
    p.add_argument("--after-predict", type=int, nargs="*", default=[],
                   help="for these sizes, also run tunegate predict over the batch first, then the monitor")
    p.add_argument("--predict-log", type=int, nargs="*", default=[],
                   help="monitor prediction logs of these sizes (e.g. 1000000), each in a fresh process")
    p.add_argument("--read-log", type=Path, nargs=2, default=None, help=argparse.SUPPRESS)  # LOG REFERENCE
    args = p.parse_args()
    if args.read_log:
        print(json.dumps(read_predict_log(*args.read_log)))
        return 0
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    figures: dict = {"cores": os.cpu_count(), "load_avg_start": os.getloadavg()}
    figures["cfpb"] = cfpb_drift(args.cfpb_model) if not args.no_cfpb else "not run"
    if args.predict_log:
        figures["predict_log"] = predict_log_figures(args.predict_log)
    if not args.cfpb_only and args.sizes:
        from flows.train import train_pipeline

        work = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
        cfg = champion_config(work)
        t0 = time.perf_counter()
        assert train_pipeline(cfg, trigger="benchmark").promoted
        figures["champion_train_s"] = round(time.perf_counter() - t0, 1)
        runs = []
        for n in sorted(args.sizes):
            for score in ([None] if n <= args.full_max else []) + list(args.score_rows):
                c = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"score_rows": score})})
                runs.append(monitor_once(c, n, work))
                runs[-1].pop("predictions")
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # partial figures survive a timeout
            if n in args.after_predict:
                runs.append(predict_then_monitor(cfg, n, work))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        full = [r for r in runs if r["score_rows"] is None and not r.get("after_predict")]
        if full:
            base = full[0]["wall_s"] / full[0]["rows"]
            for r in full:
                r["scaling"] = round((r["wall_s"] / r["rows"]) / base, 3)
        figures["monitor"] = runs
    return emit(figures, args.out)


if __name__ == "__main__":
    sys.exit(main())
