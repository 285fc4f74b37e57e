"""Ingest + Great Expectations gate vs the same checks hand-written in pandas, on one JSONL file.

    python benchmarks/ingest_bench.py [--rows 1000000] [--file /tmp/tunegate-bench/claims_1m.jsonl]

Each side runs in its own child process so each peak RSS is its own. Target: the gate costs at most
3x the hand-written checks; peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LABELS = ["motor", "escape_of_water", "fire", "theft", "travel", "liability", "storm", "personal_accident"]
Q = {"min_rows": 200, "min_text_chars": 5, "max_text_chars": 100_000, "labels": LABELS, "require_labels": True,
     "min_per_class": 10, "max_duplicate_text_share": 0.05, "require_timestamp": False}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def side_tunegate(path: Path) -> dict:
    t = time.perf_counter()
    import great_expectations  # noqa: F401  (a fixed start-up cost, reported apart from the per-row work)

    from tasks.ingest.quality import validate_parquet
    from tasks.ingest.read import load_documents

    import_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ref = load_documents(path, Path(tmp) / "dataset.parquet", timestamp_col="created_at",
                             keep_columns=["channel", "product"])
        t1 = time.perf_counter()
        report = validate_parquet(ref.uri, docs_dir=Path(tmp) / "data_docs", **Q)
        t2 = time.perf_counter()
    return {"rows": ref.rows, "load_s": t1 - t0, "checks_s": t2 - t1, "import_s": import_s, "passed": report.passed,
            "failed": [c.expectation for c in report.failures()], "peak_rss_mb": _peak_rss_mb()}


def side_pandas(path: Path) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_json(path, lines=True, dtype={"id": str, "text": str, "label": str}, convert_dates=False)
    df["timestamp"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601", errors="coerce")
    t1 = time.perf_counter()
    text, label = df["text"], df["label"]
    lengths = text.str.len()
    counts = label.value_counts().reindex(LABELS, fill_value=0)
    now = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    checks = {
        "columns": all(c in df.columns for c in ("id", "text", "label", "timestamp")),
        "min_rows": len(df) >= Q["min_rows"],
        "id_not_null": df["id"].notna().all(), "id_unique": df["id"].is_unique,
        "text_not_null": text.notna().all(),
        "text_not_blank": not text.str.fullmatch(r"\s*").fillna(False).any(),
        "text_length": lengths.dropna().between(Q["min_text_chars"], Q["max_text_chars"]).all(),
        "duplicate_share": 1 - text.nunique() / max(text.notna().sum(), 1) <= Q["max_duplicate_text_share"],
        "label_not_null": label.notna().all(), "label_in_set": label.dropna().isin(LABELS).all(),
        "min_per_class": (counts >= Q["min_per_class"]).all(),
        "timestamp_range": df["timestamp"].dropna().between(pd.Timestamp("1990-01-01", tz="UTC"), now).all(),
    }
    t2 = time.perf_counter()
    return {"rows": len(df), "load_s": t1 - t0, "checks_s": t2 - t1, "passed": bool(all(checks.values())),
            "failed": [k for k, v in checks.items() if not v], "peak_rss_mb": _peak_rss_mb()}


def _child(side: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--side", side, "--file", str(path)], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, default=Path(tempfile.gettempdir()) / "tunegate-bench" / "claims_1m.jsonl")
    ap.add_argument("--side", choices=["tunegate", "pandas"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        print(json.dumps((side_tunegate if args.side == "tunegate" else side_pandas)(args.file)))
        return
    if not args.file.is_file():
        from tasks.ingest.sample_data import write_sample

        t = time.perf_counter()
        write_sample(args.file, rows=args.rows, seed=2024)
        print(f"generated {args.rows} rows in {time.perf_counter() - t:.1f}s -> {args.file}")
    size_mb = args.file.stat().st_size / 2**20
    tg, pd_ = _child("tunegate", args.file), _child("pandas", args.file)
    print(f"file: {args.file} ({size_mb:.0f} MiB, {tg['rows']} rows)")
    print(f"{'side':<24}{'load s':>9}{'checks s':>10}{'total s':>9}{'rows/s':>11}{'peak RSS MB':>13}  passed")
    for name, r in (("tunegate ingest+GE gate", tg), ("pandas hand-written", pd_)):
        total = r["load_s"] + r["checks_s"]
        print(f"{name:<24}{r['load_s']:>9.1f}{r['checks_s']:>10.1f}{total:>9.1f}{r['rows'] / total:>11,.0f}"
              f"{r['peak_rss_mb']:>13,.0f}  {r['passed']} {r['failed'] or ''}")
    print(f"(not in the table: importing Great Expectations took {tg['import_s']:.1f}s once per process)")
    gate_ratio = tg["checks_s"] / pd_["checks_s"]
    total_ratio = (tg["load_s"] + tg["checks_s"]) / (pd_["load_s"] + pd_["checks_s"])
    print(f"gate / hand-written checks: {gate_ratio:.2f}x (target <= 3x); "
          f"ingest+gate / pandas load+checks: {total_ratio:.2f}x; "
          f"peak RSS {max(tg['peak_rss_mb'], pd_['peak_rss_mb']):,.0f} MB (target < 4096)")


if __name__ == "__main__":
    main()
