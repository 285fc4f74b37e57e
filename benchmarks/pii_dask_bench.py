"""Scrubbing on a 2-worker Dask cluster vs the local process pool, on the same machine, in one run.

    .venv/bin/python benchmarks/pii_dask_bench.py                 # 100,000 sample notes
    .venv/bin/python benchmarks/pii_dask_bench.py --rows 16384    # 4 shards of 4,096: 2 per worker

Both sides run the pipeline's scrub task (``scrub_pii``, no recall estimate: it is the same work in the parent
either way) in a Prefect flow on a temporary server: ``pii.runner: local`` with ``pii.workers`` processes, then
``pii.runner: dask`` against a ``distributed.LocalCluster`` of as many single-threaded worker processes,
started before the clock (a cluster is already running in production). Each side's time includes its
workers' loading of spaCy and Presidio. Printed: both times, the overhead ratio (dask / local - 1; target
≤ 10 %), whether the outputs are the same (digest and files), and the per-shard cost from the task runs
that the Prefect server recorded (the first shard on each worker includes its start-up). On a shared machine
the wall times follow the load; ``cpu_s`` (this process, the pool's reaped workers, the Dask workers) does not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.report import emit  # noqa: E402
from tasks.runtime import offline_environment  # noqa: E402

_HOME = Path(tempfile.mkdtemp(prefix="tunegate-daskbench-"))
os.environ.setdefault("PREFECT_HOME", str(_HOME / "prefect"))
offline_environment()
os.environ.setdefault("TUNEGATE_PII_KEY", "benchmark-key-not-secret-32-bytes")  # the workers inherit it


def canonical_dataset(rows: int, seed: int, work: Path):
    """The sample corpus as ingest writes the canonical dataset the scrub stage reads (text, label, two kept text
    columns; row groups of the scrub's read window, ``tasks.datasets.ROW_GROUP_ROWS``)."""
    from tasks.ingest.read import load_documents
    from tasks.ingest.sample_data import write_sample
    from tasks.pii.stream import describe_parquet

    raw = write_sample(work / "claims.parquet", rows=rows, seed=seed)
    load_documents(raw, work / "dataset.parquet", keep_columns=["product", "channel"])  # the timestamp is no text
    return describe_parquet(work / "dataset.parquet", scrubbed=False)


def scrub_in_a_flow(dataset, pii, run_dir: Path) -> tuple[float, object]:
    from prefect import flow

    from tasks.pii.task import scrub_pii

    @flow(name=f"scrub-{pii.runner}")
    def scrub(dataset, pii, run_dir):
        return scrub_pii(dataset, pii, run_dir, estimate=False)

    t0 = time.perf_counter()
    state = scrub(dataset, pii, run_dir, return_state=True)
    wall = time.perf_counter() - t0
    state.result()
    return wall, state.state_details.flow_run_id


def shard_times(flow_run_id) -> list[dict]:
    """Each scrub_shard task run's seconds and start offset, as the Prefect server recorded them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200)
    shards = sorted((r for r in runs if r.name.startswith("scrub_shard")), key=lambda r: r.start_time)
    t0 = shards[0].start_time if shards else None
    return [{"s": round(r.total_run_time.total_seconds(), 2), "start": round((r.start_time - t0).total_seconds(), 2),
             "end": round((r.end_time - t0).total_seconds(), 2)} for r in shards]


def cpu_seconds(client) -> float:
    """CPU seconds so far of this process, its reaped children (the local pool's workers) and the Dask workers:
    the figure a busy machine does not inflate."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = sum(client.run(time.process_time).values())
    return time.process_time() + children.ru_utime + children.ru_stime + workers


def digests(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(run_dir.iterdir()) if p.is_file()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    from distributed import Client, LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from tasks.config import load_config

    work = Path(tempfile.mkdtemp(prefix="pii-dask-bench-"))
    figures: dict = {"rows": args.rows, "workers": args.workers, "cores": len(os.sched_getaffinity(0)),
                     "load_avg_start": os.getloadavg()}
    t0 = time.perf_counter()
    dataset = canonical_dataset(args.rows, args.seed, work)
    figures["make_dataset_s"] = round(time.perf_counter() - t0, 1)
    pii = load_config(ROOT / "examples" / "claims.yaml").pii.model_copy(update={"workers": args.workers})
    with prefect_test_harness(server_startup_timeout=300):
        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
        figures["cluster_start_s"] = round(time.perf_counter() - t0, 1)
        client = Client(cluster)
        try:
            c0 = cpu_seconds(client)
            local_s, _ = scrub_in_a_flow(dataset, pii, work / "runs" / "local")
            c1 = cpu_seconds(client)
            print(f"local pool: {local_s:.1f} s, {c1 - c0:.1f} CPU s", file=sys.stderr, flush=True)
            dask_pii = pii.model_copy(update={"runner": "dask", "dask_address": cluster.scheduler_address})
            dask_s, run_id = scrub_in_a_flow(dataset, dask_pii, work / "runs" / "dask")
            c2 = cpu_seconds(client)
            print(f"dask: {dask_s:.1f} s, {c2 - c1:.1f} CPU s", file=sys.stderr, flush=True)
            shards = shard_times(run_id)
        finally:
            client.close()
            cluster.close()
    same = digests(work / "runs" / "local") == digests(work / "runs" / "dask")
    steady = [s["s"] for s in shards[args.workers:]] or [s["s"] for s in shards]
    figures.update({
        "local_pool_s": round(local_s, 1), "dask_s": round(dask_s, 1), "overhead": round(dask_s / local_s - 1, 3),
        "cpu_s": {"local": round(c1 - c0, 1), "dask": round(c2 - c1, 1)},
        "cpu_overhead": round((c2 - c1) / (c1 - c0) - 1, 3),
        "same_output": same,
        "docs_per_s": {"local": round(args.rows / local_s, 1), "dask": round(args.rows / dask_s, 1)},
        "shards": len(shards), "shard_s_first_per_worker": [s["s"] for s in shards[:args.workers]],
        "shard_s_median_after_start_up": round(statistics.median(steady), 2) if steady else None,
        "last_shard_end_s": max(s["end"] for s in shards) if shards else None,
        "merge_and_orchestration_s": round(dask_s - max(s["end"] for s in shards), 1) if shards else None,
        "shard_runs": shards, "load_avg_end": os.getloadavg()})
    return emit(figures, args.out)


if __name__ == "__main__":
    sys.exit(main())
