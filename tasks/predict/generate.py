"""Load a causal-LM model folder (written by tasks/train/recipe.py), score responses and generate greedily.

Used by evaluation for ``train.task: causal_lm``. The folder holds ``adapter/`` (PEFT format, or a full
model when trained with ``method: full``), ``tokenizer/`` and ``train_config.json`` whose ``base_model`` is
the local base folder. Prompts are formatted exactly as the recipe trains them (``tasks.train.data``).
Nothing here logs or raises with document text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor

from tasks.errors import ConfigError, InputError
from tasks.predict.folder import read_train_config
from tasks.train import data as td
from tasks.train.base_model import recorded_base_model

DEFAULT_MAX_NEW_TOKENS = 64


@dataclass
class CausalModel:
    model: Any
    tokenizer: Any
    max_length: int
    device: torch.device


@dataclass
class ResponseNll:
    """Negative log-likelihood of each reference response (its tokens and EOS), given its prompt."""

    nll: np.ndarray  # (n,) summed over the response tokens, natural log
    tokens: np.ndarray  # (n,) response tokens scored

    def total(self) -> tuple[float, int]:
        return float(self.nll.sum()), int(self.tokens.sum())


@dataclass
class Generations:
    texts: list[str]  # greedy continuation of each prompt, special tokens dropped, stripped
    confidence: np.ndarray  # (n,) probability of the whole continuation (product over its tokens, EOS included)
    logprob: np.ndarray | None = None  # (n,) natural log of ``confidence`` (no underflow)
    tokens: np.ndarray | None = None  # (n,) tokens generated, EOS included
    embeddings: np.ndarray | None = None  # (n, hidden) mean of the prompt's last hidden states (``embed=True``)

    def perplexity(self) -> np.ndarray:
        """Per-continuation perplexity, exp(-logprob / tokens): how sure the model was of what it wrote."""
        return np.exp(-self.logprob / np.maximum(self.tokens, 1))


def load_causal_model(model_dir: Path, device: str | None = None) -> CausalModel:
    """Base model + merged LoRA adapter (or the full model) and tokenizer; local files only, GPU if there is one."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    cfg = read_train_config(model_dir)
    if cfg.get("task") != "causal_lm":
        raise ConfigError(f"{model_dir}: a {cfg.get('task')} model; load_causal_model loads causal_lm models only "
                          "(use tasks.predict.classify.load_model for classification).")
    for part in ("adapter", "tokenizer"):
        if not (model_dir / part).is_dir():
            raise InputError(f"{model_dir / part}: missing; the training run did not finish writing this folder. "
                             "Retrain, or point at a complete model folder.")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    tok = AutoTokenizer.from_pretrained(model_dir / "tokenizer", local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # as the recipe does
    if cfg.get("method") == "full":
        model = AutoModelForCausalLM.from_pretrained(model_dir / "adapter", dtype=dtype, local_files_only=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(recorded_base_model(model_dir, cfg), dtype=dtype,
                                                     local_files_only=True)
        # Merging removes the LoRA indirection: same outputs, faster inference.
        model = PeftModel.from_pretrained(model, model_dir / "adapter").merge_and_unload()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.to(dev).eval()
    return CausalModel(model, tok, int(cfg.get("max_length", 256)), dev)


@torch.inference_mode()
def response_nll(model: CausalModel, prompts: list[str], responses: list[str], batch_size: int = 8) -> ResponseNll:
    """Per-example NLL of ``responses`` given ``prompts``, encoded and truncated as the recipe trains them."""
    n = len(prompts)
    nll, count = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64)
    if not n:
        return ResponseNll(nll, count)
    enc = td.encode_sft(model.tokenizer, list(prompts), list(responses), model.max_length)
    order = sorted(range(n), key=lambda i: len(enc.ids[i]))
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        batch = {k: v.to(model.device) for k, v in td.collate(enc, idx, model.tokenizer.pad_token_id,
                                                                "causal_lm").items()}
        logits = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=td.IGNORE,
                                                 reduction="none")
        nll[idx] = loss.sum(dim=1).double().cpu().numpy()
        count[idx] = (labels != td.IGNORE).sum(dim=1).cpu().numpy()
    return ResponseNll(nll, count)


def _prompt_ids(tok, prompts: list[str], limit: int) -> list[list[int]]:
    """Token ids of each formatted prompt; a long one keeps its start and the response marker."""
    ids = tok([td.prompt_text(p) for p in prompts], add_special_tokens=True)["input_ids"]
    marker = tok(td.PROMPT_SUFFIX, add_special_tokens=False)["input_ids"]
    keep = max(1, limit - len(marker))
    return [x if len(x) <= limit else x[:keep] + marker for x in ids]


class _GreedyLogProb(LogitsProcessor):
    """Logits processor that records the log-probability of the greedy (arg-max) token at each step."""

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.steps.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores


@torch.inference_mode()
def generate_responses(model: CausalModel, prompts: list[str], max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                       batch_size: int = 16, embed: bool = False) -> Generations:
    """Greedy continuation of each prompt (left-padded batches of similar length), in input order; with
    ``embed``, each prompt's sentence embedding from the same forward pass (its first generation step)."""
    from transformers import GenerationConfig, LogitsProcessorList

    from tasks.predict.classify import mean_pool

    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens is {max_new_tokens}; generation needs at least 1 new token.")
    tok, n = model.tokenizer, len(prompts)
    texts, logprob, tokens = [""] * n, np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64)
    emb = np.zeros((n, model.model.config.hidden_size), dtype=np.float32) if embed else None
    if not n:
        return Generations(texts, np.exp(logprob), logprob, tokens, emb)
    ids = _prompt_ids(tok, list(prompts), model.max_length)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    gen_cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad,
                               eos_token_id=eos, bos_token_id=tok.bos_token_id)
    order = sorted(range(n), key=lambda i: len(ids[i]))
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):  # left padding: every prompt ends where generation starts
            input_ids[r, width - len(ids[i]):] = torch.tensor(ids[i])
            mask[r, width - len(ids[i]):] = 1
        rec = _GreedyLogProb()
        out = model.model.generate(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device),
                                   generation_config=gen_cfg, logits_processor=LogitsProcessorList([rec]),
                                   output_hidden_states=embed, return_dict_in_generate=True)
        if emb is not None:  # step 0 ran the whole prompt: its last layer, padding masked out
            emb[idx] = mean_pool(out.hidden_states[0][-1], mask.to(model.device)).cpu().numpy()
        new = out.sequences[:, width:].cpu()
        logp = torch.stack(rec.steps, dim=1).cpu()[:, :new.shape[1]]
        # A row's continuation ends at its first EOS (kept); what follows is padding of a finished row.
        is_eos = (new == eos) if eos is not None else torch.zeros_like(new, dtype=torch.bool)
        live = (torch.cumsum(is_eos.long(), dim=1) - is_eos.long()) == 0
        seq_logp = (logp * live).sum(dim=1)
        decoded = tok.batch_decode(torch.where(live, new, pad), skip_special_tokens=True)
        for r, i in enumerate(idx):
            texts[i] = decoded[r].strip()
            logprob[i], tokens[i] = float(seq_logp[r]), int(live[r].sum())
    return Generations(texts, np.exp(logprob), logprob, tokens, emb)
