"""Scoring throughput: tunegate's predict path vs Hugging Face ``pipeline("text-classification")``.

Same merged model (the packaged all-MiniLM-L6-v2 with a seeded classification head, saved as a tunegate
model folder with ``method: full``: what ``load_model`` returns after merging a LoRA adapter), same
documents, same truncation (256 tokens), same batch size, same threads, one process, warm (a first batch is
scored and discarded on each side). tunegate scores through ``tasks.predict.batch.score_frame`` with its
defaults (length-sorted batches, bf16 autocast where the CPU has native bf16, the sentence embedding taken
from the same forward pass); the pipeline with its defaults (fp32) and, as a second reference, under the
same bf16 autocast. Agreement is the share of documents given the same label.

Tokens/s counts real tokens (no padding). Model FLOPs per token: 2 x the encoder's non-embedding
parameters plus attention (4 x layers x hidden x mean length); the CPU's peak is the best of a few square
matmuls in the same dtype, measured in the same run.

    .venv/bin/python benchmarks/predict_bench.py [--docs 2000] [--cfpb-docs 1000] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.report import emit  # noqa: E402
from tasks.runtime import offline_environment  # noqa: E402

offline_environment()
CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"
LABELS = ["a", "b", "c", "d", "e", "f"]
MAX_LENGTH, BATCH = 256, 64


def model_folder(folder: Path) -> Path:
    """A tunegate classification model folder holding a merged (full) MiniLM classifier."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tasks.monitor.descriptors import minilm_path

    torch.manual_seed(0)
    base = minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)}, local_files_only=True)
    model.save_pretrained(folder / "adapter")
    AutoTokenizer.from_pretrained(base, local_files_only=True).save_pretrained(folder / "tokenizer")
    (folder / "label_map.json").write_text(json.dumps({"labels": LABELS}))
    (folder / "train_config.json").write_text(json.dumps({
        "task": "classification", "method": "full", "base_model": str(base), "max_length": MAX_LENGTH,
        "precision": "auto", "truncation": "head"}))
    return folder


def documents(n_sample: int, n_cfpb: int) -> dict[str, list[str]]:
    import pandas as pd

    from tasks.ingest.sample_data import write_sample

    out = {}
    if n_sample:
        path = write_sample(Path(tempfile.mkdtemp()) / "s.jsonl", rows=n_sample, seed=5)
        out["sample"] = pd.read_json(path, lines=True)["text"].astype(str).tolist()
    if n_cfpb and CFPB.is_file():
        out["cfpb"] = pd.read_csv(CFPB)["text"].dropna().astype(str).head(n_cfpb).tolist()
    return out


def matmul_peak(dtype, size: int = 2048, reps: int = 5) -> float:
    """Best GFLOP/s of ``size``-square matmuls in ``dtype`` on this process's threads."""
    import torch

    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * size ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_token(model, mean_len: float) -> float:
    cfg = model.config
    params = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    return 2 * params + 4 * cfg.num_hidden_layers * cfg.hidden_size * mean_len


def real_tokens(tok, texts: list[str]) -> int:
    return sum(len(x) for x in tok(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"])


def run_tunegate(folder: Path, texts: list[str]) -> tuple[float, list[str]]:
    from tasks.predict.batch import score_frame

    ids = [str(i) for i in range(len(texts))]
    score_frame(ids[:BATCH], texts[:BATCH], folder, 0, batch_size=BATCH, embed=True)  # warm
    t0 = time.perf_counter()
    frame, emb = score_frame(ids, texts, folder, 0, batch_size=BATCH, embed=True)
    elapsed = time.perf_counter() - t0
    assert emb is not None and emb.shape[0] == len(texts)
    return elapsed, frame["prediction"].tolist()


def run_pipeline(folder: Path, texts: list[str], bf16: bool) -> tuple[float, list[str]]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    model = AutoModelForSequenceClassification.from_pretrained(folder / "adapter", local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    clf = pipeline("text-classification", model=model, tokenizer=tok, device=-1)
    kw = {"batch_size": BATCH, "truncation": True, "max_length": MAX_LENGTH}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        clf(texts[:BATCH], **kw)  # warm
        t0 = time.perf_counter()
        out = clf(texts, **kw)
        elapsed = time.perf_counter() - t0
    return elapsed, [o["label"] for o in out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=2000, help="sample-corpus documents (0: none)")
    p.add_argument("--cfpb-docs", type=int, default=1000, help="CFPB complaints (skipped when absent)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tasks.train.devices import autocast_dtype

    torch.set_num_threads(args.threads)
    folder = model_folder(Path(tempfile.mkdtemp(prefix="predict-bench-")))
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    model = AutoModelForSequenceClassification.from_pretrained(folder / "adapter")
    dtype = autocast_dtype("auto", torch.device("cpu"))
    bf16 = dtype == torch.bfloat16
    peak = {"fp32": round(matmul_peak(torch.float32), 1)}
    if bf16:
        peak["bf16"] = round(matmul_peak(torch.bfloat16), 1)
    figures: dict = {"threads": args.threads, "tunegate_precision": "bf16" if bf16 else "fp32",
                     "matmul_peak_gflops": peak, "load_avg_start": os.getloadavg(), "sets": {}}
    for name, texts in documents(args.docs, args.cfpb_docs).items():
        tokens = real_tokens(tok, texts)
        fpt = flops_per_token(model, tokens / len(texts))
        row: dict = {"docs": len(texts), "real_tokens": tokens}
        t_tg, y_tg = run_tunegate(folder, texts)
        t_pl, y_pl = run_pipeline(folder, texts, bf16=False)
        row["tunegate"] = {"s": round(t_tg, 2), "docs_per_s": round(len(texts) / t_tg, 1),
                           "tokens_per_s": round(tokens / t_tg), "share_of_peak":
                           round(tokens / t_tg * fpt / 1e9 / peak["bf16" if bf16 else "fp32"], 3)}
        row["pipeline_fp32"] = {"s": round(t_pl, 2), "docs_per_s": round(len(texts) / t_pl, 1),
                                "tokens_per_s": round(tokens / t_pl),
                                "share_of_peak": round(tokens / t_pl * fpt / 1e9 / peak["fp32"], 3),
                                "agreement": round(sum(a == b for a, b in zip(y_tg, y_pl)) / len(texts), 4)}
        row["ratio_vs_pipeline"] = round(t_pl / t_tg, 2)
        if bf16:
            t_pb, y_pb = run_pipeline(folder, texts, bf16=True)
            row["pipeline_bf16"] = {"s": round(t_pb, 2), "docs_per_s": round(len(texts) / t_pb, 1),
                                    "agreement": round(sum(a == b for a, b in zip(y_tg, y_pb)) / len(texts), 4)}
            row["ratio_vs_pipeline_bf16"] = round(t_pb / t_tg, 2)
        figures["sets"][name] = row
        print(json.dumps({name: row}), file=sys.stderr, flush=True)
    figures["load_avg_end"] = os.getloadavg()
    return emit(figures, args.out)


if __name__ == "__main__":
    sys.exit(main())
