"""Tokenizing a training corpus: tunegate's in-memory path vs Hugging Face ``datasets`` (Arrow, memory-mapped,
cached), each side in its own process, on the same Parquet file and tokenizer (the packaged MiniLM, 256
tokens). What it decides: whether ``datasets`` earns a place as a runtime dependency (issue 17, item 5).

- tunegate: ``pd.read_parquet`` of the text column, then ``tasks.train.data.encode_texts`` (what the recipe
  does for a split).
- datasets: ``Dataset.from_parquet`` then ``map(tokenize, batched=True)`` into a fresh cache folder, then
  the same again (the cache hit a second run would get), reading every row's ids back once.

Peak RSS is the process's own high-water mark (``VmHWM``, which starts afresh at exec, unlike
``ru_maxrss``, which a child inherits from the parent that forked it), so it includes Python, the tokenizer
library and the data.

    .venv/bin/python benchmarks/tokenize_bench.py [--docs 200000] [--out FILE]   (needs `make bench`)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.report import emit  # noqa: E402
from tasks.runtime import offline_environment  # noqa: E402

offline_environment()
MAX_LENGTH = 256


def tokenizer():
    from transformers import AutoTokenizer

    from tasks.monitor.descriptors import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)


def side_tunegate(path: Path) -> dict:
    import pandas as pd

    from tasks.train.data import encode_texts

    tok = tokenizer()
    t0 = time.perf_counter()
    texts = pd.read_parquet(path, columns=["text"])["text"].tolist()
    ids = encode_texts(tok, texts, MAX_LENGTH)
    return {"s": round(time.perf_counter() - t0, 2), "tokens": sum(len(x) for x in ids)}


def side_datasets(path: Path) -> dict:
    from datasets import Dataset

    tok = tokenizer()
    cache = Path(tempfile.mkdtemp(prefix="tok-cache-"))
    out = {}
    for run in ("first", "cached"):
        t0 = time.perf_counter()
        ds = Dataset.from_parquet(str(path), cache_dir=str(cache))
        ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True,
                    batch_size=1000, remove_columns=ds.column_names)
        tokens = sum(len(x) for batch in ds.iter(batch_size=10_000) for x in batch["input_ids"])
        out[run] = {"s": round(time.perf_counter() - t0, 2), "tokens": tokens}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=200_000)
    p.add_argument("--side", choices=["tunegate", "datasets"], help=argparse.SUPPRESS)
    p.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    if args.side:  # child process: one side, then its own peak RSS
        r = side_tunegate(args.file) if args.side == "tunegate" else side_datasets(args.file)
        hwm = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
        r["peak_rss_mb"] = round(int(hwm.split()[1]) / 1024)
        print(json.dumps(r))
        return 0
    import pandas as pd

    from tasks.ingest.sample_data import write_sample

    work = Path(tempfile.mkdtemp(prefix="tok-bench-"))
    src = write_sample(work / "docs.jsonl", rows=args.docs, seed=11)
    path = work / "docs.parquet"
    pd.read_json(src, lines=True)[["id", "text"]].to_parquet(path)
    figures: dict = {"docs": args.docs, "file_mb": round(path.stat().st_size / 2**20, 1),
                     "load_avg_start": os.getloadavg()}
    for side in ("tunegate", "datasets"):
        proc = subprocess.run([sys.executable, __file__, "--side", side, "--file", str(path)], check=True,
                              capture_output=True, text=True)
        figures[side] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps({side: figures[side]}), file=sys.stderr, flush=True)
    figures["load_avg_end"] = os.getloadavg()
    return emit(figures, args.out)


if __name__ == "__main__":
    sys.exit(main())
