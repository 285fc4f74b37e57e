"""What the memorisation gate costs, and whether it tells memorised secrets from unseen ones.

    .venv/bin/python benchmarks/memorisation_bench.py                  # both parts
    .venv/bin/python benchmarks/memorisation_bench.py --skip-classification

1. **Classification** (the shipped sample corpus, 1,200 documents, default settings, the packaged MiniLM):
   the whole training pipeline once; the membership-inference test's task time as a share of the fine-tune
   task's. Target (issue 16): ≤ 25 %.
2. **Causal-LM SFT** on claim notes, two random llamas: the tiny test model (32 wide, 2 layers) and a
   MiniLM-sized one (384 wide, 6 layers, ~11 M weights without embeddings). Ten canaries (the default
   ``train.canaries``) are written into a copy of the training split 1, 10 and 100 times; after a full
   fine-tune, the canaries' exposure and greedy extraction are measured, and so are ten canaries the model
   never saw (prompts and secrets of their own). Also the gate's cost: the canary test's time as a share of
   training. Targets: a model trained on canaries repeated 100 times fails the gate, canaries never seen pass
   it; cost ≤ 50 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pipeline_bench import run_once, sample_config  # noqa: E402 - sets the benchmark env first

SIZES = {"tiny": {}, "minilm-sized": {"hidden": 384, "layers": 6, "heads": 12, "kv_heads": 12, "intermediate": 1536}}
REPEATS = (1, 10, 100)
CANARIES = 10


def classification(work: Path, rows: int) -> dict:
    cfg = sample_config(work, rows, None)
    fig = run_once(cfg)
    t = fig["task_body_s"]
    ft, mi = t.get("launch_finetune", 0.0), t.get("membership_test", 0.0)
    return {"part": "classification", "rows": rows, "finetune_s": ft, "membership_test_s": mi,
            "share": round(mi / max(ft, 1e-9), 4), "macro_f1": fig["macro_f1"]}


def causal(work: Path, size: str, rows: int, epochs: float) -> list[dict]:
    import pandas as pd
    import torch
    from test_recipe import _run
    from tiny_models import tiny_llama, toy_claims

    from tasks.config import PromotionPolicy
    from tasks.evaluate import canaries as cn
    from tasks.refs import DatasetRef
    from tasks.registry.promote import _check_canaries
    from tasks.train import canaries as planting
    from tasks.train.split import write_split

    d = work / size
    d.mkdir(parents=True)
    df = toy_claims(rows)
    df.to_parquet(d / "ds.parquet")
    split = write_split(DatasetRef(uri=str(d / "ds.parquet"), sha256="s", rows=len(df), columns={}), 0.2, 0.15, 13, d)
    llama = tiny_llama(d / "llama", **SIZES[size])
    planted = planting.make_canaries(CANARIES, 1, salt="planted")
    never = planting.make_canaries(CANARIES, 1, salt="never")
    limit = PromotionPolicy().max_canary_exposure
    out = []
    for reps in REPEATS:
        x, y = planting.training_rows(planted, reps)
        train = pd.concat([pd.read_parquet(split.train.uri), pd.DataFrame(
            {"id": [f"canary-{i}" for i in range(len(x))], "text": x, "label": "canary", "response": y})])
        path = d / f"train-x{reps}.parquet"
        train.to_parquet(path)
        sp = split.model_copy(update={"train": split.train.model_copy(update={"uri": str(path), "rows": len(train)})})
        (d / f"x{reps}").mkdir()
        torch.manual_seed(0)
        t0 = time.perf_counter()
        model = _run(d / f"x{reps}", sp, base_model=str(llama), task="causal_lm", max_length=96, batch_size=8,
                     seed=7, checkpoint_every=100_000, method="full", epochs=epochs, learning_rate=3e-3,
                     packing=False, canaries=0)
        train_s = time.perf_counter() - t0
        for which, cans in (("planted", planted), ("never seen", never)):
            r = cn.canary_test(model, cans)
            out.append({"part": "causal_lm", "model": size, "repeats": reps, "canaries": which,
                        "train_s": round(train_s, 1), "test_s": r["seconds"],
                        "share": round(r["seconds"] / train_s, 4), "mean_exposure_bits": r["mean_exposure_bits"],
                        "max_exposure_bits": r["max_exposure_bits"], "extracted": r["extracted"],
                        "gate": "pass" if _check_canaries(r, limit)[0] else "fail"})
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1200, help="sample corpus size for the classification part")
    p.add_argument("--causal-rows", type=int, default=400, help="claim notes in the causal-LM data")
    p.add_argument("--epochs", type=float, default=5)
    p.add_argument("--skip-classification", action="store_true")
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    work = Path(tempfile.mkdtemp(prefix="memorisation-bench-"))
    rows = []
    if not args.skip_classification:
        rows.append(classification(work / "cls", args.rows))
        print(json.dumps(rows[-1]), flush=True)
    for size in args.sizes:
        rows += causal(work, size, args.causal_rows, args.epochs)
    print("\n| part | model | canaries | repeats | mean exposure (bits) | max | extracted | gate | cost share |")
    print("|---" * 9 + "|")
    for r in rows:
        if r["part"] == "classification":
            print(f"| classification | MiniLM (sample, {r['rows']} docs) | – | – | – | – | – | – | {r['share']:.1%} "
                  f"({r['membership_test_s']} s of {r['finetune_s']} s) |")
        else:
            print(f"| causal LM | {r['model']} | {r['canaries']} | {r['repeats']} | {r['mean_exposure_bits']:.2f} "
                  f"| {r['max_exposure_bits']:.2f} | {r['extracted']}/{CANARIES} | {r['gate']} | {r['share']:.1%} "
                  f"({r['test_s']} s of {r['train_s']} s) |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
