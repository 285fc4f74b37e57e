#!/usr/bin/env bash
# GPU training benchmark (≤ 8 minutes on one H200): tunegate's recipe, LoRA on a ~1B Llama-style decoder
# built from a config (random init, no download), bf16 autocast, sequence 2048 (packed), one process.
# Reports tokens/s and MFU.
#
# FLOPs convention: N = parameters in matmuls (all parameters except the input embedding, lm_head included).
#   LoRA:     4N per token (forward 2N + backward activation gradients 2N; frozen weights get no weight grads)
#   full FT:  6N per token (forward 2N + backward 4N)
#   Attention scores add 4·L·s·d per token for LoRA (causal: half of 2·2·L·s·d forward, doubled for backward);
#   MFU is printed with and without that term. Peak: H200 dense bf16 = 989 TFLOP/s (override PEAK_TFLOPS).
#
#   bash benchmarks/gpu_train.sh            # on the GPU machine (device tool)
#   DRYRUN=1 bash benchmarks/gpu_train.sh   # tiny model on CPU: checks the script itself
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if [ -z "${DRYRUN:-}" ] && ! "$PY" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_train.sh: no CUDA GPU present here; nothing measured. Run it on the GPU machine (device tool)."
  exit 0
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-train-XXXXXX")
export WORK HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH=$PWD
timeout "${LIMIT_S:-460}" "$PY" - <<'EOF'
import json, os, random, subprocess, sys, time
from pathlib import Path
import pandas as pd
import torch
sys.path.insert(0, "tests")
from tiny_models import _save_tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

work, dry = Path(os.environ["WORK"]), bool(os.environ.get("DRYRUN"))
seq = 128 if dry else 2048
batch = int(os.environ.get("BATCH", 2 if dry else 8))
steps = int(os.environ.get("STEPS", 3 if dry else 40))
model_dir = work / "model"
vocab = _save_tokenizer("llama", model_dir)  # small BPE trained on the fly; the model's vocab is 32000
dims = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128) if dry else dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                                                    num_key_value_heads=8, intermediate_size=8192)
cfg = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                  tie_word_embeddings=False, **dims)
t0 = time.time()
with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
n_all = sum(p.numel() for p in model.parameters())
N = n_all - model.model.embed_tokens.weight.numel()
model.save_pretrained(model_dir)
del model
print(f"model: {n_all/1e9:.3f}B parameters, N (matmul) = {N/1e9:.3f}B, built+saved in {time.time()-t0:.0f}s", flush=True)

rng = random.Random(0)
words = "claim policy roof water escape kitchen vehicle theft storm damage assessor excess settlement".split()
rows = max(64, batch * steps * 3)
texts = [" ".join(rng.choices(words, k=seq // 16)) for _ in range(rows)]
pd.DataFrame({"id": [str(i) for i in range(rows)], "text": texts,
              "response": [" ".join(rng.choices(words, k=seq // 16)) for _ in range(rows)]}).to_parquet(work / "train.parquet")
train = {"task": "causal_lm", "method": "lora", "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": None},
         "max_length": seq, "batch_size": batch, "grad_accum": 1, "learning_rate": 1e-4, "weight_decay": 0.0,
         "warmup_ratio": 0.0, "epochs": 1, "max_steps": steps, "checkpoint_every": 10**6,
         "precision": "fp32" if dry else "bf16", "gradient_checkpointing": False, "fsdp": False, "packing": True,
         "length_group": 8,
         "seed": 42}
run = {"train": train, "base_model": str(model_dir), "train_file": str(work / "train.parquet"), "val_file": None,
       "ckpt_dir": str(work / "ckpt"), "stage_dir": str(work / "stage")}
(work / "run.json").write_text(json.dumps(run))
env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
subprocess.run([sys.executable, "-m", "tasks.train.recipe", "--config", str(work / "run.json")], check=True, env=env)
m = json.loads((work / "stage" / "metrics.json").read_text())
tps = m["tokens_per_s"]
L, d = cfg.num_hidden_layers, cfg.hidden_size
peak = float(os.environ.get("PEAK_TFLOPS", 989)) * 1e12
mfu = tps * 4 * N / peak
mfu_attn = tps * (4 * N + 4 * L * seq * d) / peak
print(json.dumps({"tokens_per_s": tps, "steps": m["steps"], "batch": batch, "seq": seq, "train_seconds": m["train_seconds"],
                  "peak_memory_mb": m["peak_memory_mb"], "N": N, "mfu_4N": round(mfu, 4),
                  "mfu_4N_plus_attention": round(mfu_attn, 4), "peak_tflops": peak / 1e12, "dryrun": dry}))
print(f"tokens/s {tps:,.0f}  MFU {mfu:.1%} (4N/token)  {mfu_attn:.1%} (4N + attention)  peak mem {m['peak_memory_mb']:.0f} MB")
EOF
rm -rf "$WORK"
