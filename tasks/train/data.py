"""Training data for the recipe: tokenize once, pack, and cut length-grouped batches.

Length grouping is where most of the speed comes from on real text: a batch of similar lengths pads little,
so the model spends its FLOPs on real tokens. The window is ``train.length_group`` batches: 8 by default.
Wider windows pad a little less but make batches less random; on CFPB, where length goes with the product,
windows of 64 batches cost about 2 points of accuracy after one epoch, 8 cost none measurable at nearly
the same speed (benchmarks/train_bench.py). Batch order is a pure function of (seed, epoch), which is what
makes the data position a single number in a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tasks.errors import InputError

IGNORE = -100
PROMPT_SUFFIX = "\n\n### Response:\n"


@dataclass
class Encoded:
    ids: list[list[int]] | Ragged  # classification: Ragged (compact); causal LM: lists (packing concatenates)
    targets: list[int] | list[list[int]]  # class id per row, or per-token labels (causal LM)


def prompt_text(text: str) -> str:
    """The SFT prompt a causal LM is trained on and generates from: the document, then the response marker."""
    return text + PROMPT_SUFFIX


def target_column(columns, task: str) -> str:
    """The column a model learns to produce: ``response`` for a causal LM when there is one, else ``label``."""
    return "response" if task == "causal_lm" and "response" in columns else "label"


def read_split(path: str | Path, task: str) -> tuple[list[str], list[str]]:
    """(texts, targets) of one split file; a causal-LM target is ``response``, else ``label``."""
    df = pd.read_parquet(path)
    col = target_column(df.columns, task)
    if "text" not in df.columns or col not in df.columns:
        raise InputError(f"{path}: needs columns 'text' and '{col}' for task {task}.")
    df = df[df["text"].notna() & df[col].notna()]
    if df.empty:
        raise InputError(f"{path}: no rows with both text and {col}; label the data first.")
    return df["text"].astype(str).tolist(), df[col].astype(str).tolist()


HEAD_SHARE = 0.25  # head_tail: a quarter of the budget from the start, the rest from the end


class Ragged:
    """Rows of token ids in one flat int32 array with offsets: ~4 bytes a token, where a list of Python ints
    costs ~36 (200,000 CFPB-sized documents: 4.8 GB peak as lists; benchmarks/tokenize_bench.py). Indexing
    gives a row as a NumPy view; ``len`` and iteration work as for a list of lists."""

    def __init__(self, rows_chunks: list[np.ndarray], lengths: list[np.ndarray]):
        self.flat = np.concatenate(rows_chunks) if rows_chunks else np.zeros(0, dtype=np.int32)
        lens = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self.offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=self.offsets[1:])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


ENCODE_CHUNK = 4096  # texts tokenized at a time: the tokenizer's own per-text objects stay bounded


def encode_texts(tok, texts: list[str], max_length: int, truncation: str = "head") -> Ragged:
    """Token ids of each text with the model's special tokens, at most ``max_length``. A longer text keeps
    its start (``head``), or its first quarter and its last three quarters (``head_tail``: Sun et al., "How
    to Fine-Tune BERT for Text Classification", 2019, found the ending carries much of a long review's
    label; a complaint's ending is where the customer says what went wrong and what they want).

    Tokenized ``ENCODE_CHUNK`` texts at a time into a compact ``Ragged``, so memory follows the token count."""
    flat, lengths = [], []
    if truncation != "head":
        prefix, suffix = _special_tokens(tok)
        budget = max(2, max_length - len(prefix) - len(suffix))
        head = max(1, int(budget * HEAD_SHARE))
    for s in range(0, len(texts), ENCODE_CHUNK):
        chunk = list(texts[s:s + ENCODE_CHUNK])
        if truncation == "head":
            rows = tok(chunk, truncation=True, max_length=max_length, return_attention_mask=False,
                       return_token_type_ids=False)["input_ids"]
        else:
            rows = [prefix + (ids[:head] + ids[len(ids) - (budget - head):] if len(ids) > budget else ids) + suffix
                    for ids in tok(chunk, add_special_tokens=False, truncation=False, verbose=False,
                                   return_attention_mask=False, return_token_type_ids=False)["input_ids"]]
        lengths.append(np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows)))
        flat.append(np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(lengths[-1].sum())))
    return Ragged(flat, lengths)


def _special_tokens(tok) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text (BERT: [CLS] and [SEP]), found by probing."""
    bare = tok("a", add_special_tokens=False)["input_ids"]
    full = tok("a")["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k:k + len(bare)] == bare:
            return full[:k], full[k + len(bare):]
    return [], []


def encode_classification(tok, texts: list[str], labels: list[str], label_names: list[str],
                          max_length: int, truncation: str = "head") -> Encoded:
    lookup = {n: i for i, n in enumerate(label_names)}
    return Encoded(encode_texts(tok, texts, max_length, truncation), [lookup.get(y, IGNORE) for y in labels])


def encode_sft(tok, prompts: list[str], responses: list[str], max_length: int) -> Encoded:
    """Prompt + response + EOS; the loss sees the response tokens only."""
    p_ids = tok([prompt_text(p) for p in prompts], add_special_tokens=True)["input_ids"]
    r_ids = tok(responses, add_special_tokens=False)["input_ids"]
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    marker = tok(PROMPT_SUFFIX, add_special_tokens=False)["input_ids"]
    ids, labels = [], []
    for p, r in zip(p_ids, r_ids):
        r = r + eos
        budget = max(1, max_length - len(r))
        if len(p) > budget:  # keep the answer whole; cut the document, not the response marker after it
            p = p[: max(1, budget - len(marker))] + marker
        seq = (p + r)[:max_length]
        ids.append(seq)
        labels.append(([IGNORE] * len(p) + r)[:max_length])
    return Encoded(ids, labels)


def pack(enc: Encoded, max_length: int) -> Encoded:
    """Greedy packing of SFT rows into sequences of up to max_length (no row is split)."""
    ids, labels, cur_i, cur_l = [], [], [], []
    for i, l in zip(enc.ids, enc.targets):
        if cur_i and len(cur_i) + len(i) > max_length:
            ids.append(cur_i)
            labels.append(cur_l)
            cur_i, cur_l = [], []
        cur_i, cur_l = cur_i + i, cur_l + l
    if cur_i:
        ids.append(cur_i)
        labels.append(cur_l)
    return Encoded(ids, labels)


LENGTH_GROUP = 8  # the default of train.length_group


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int, world: int, rank: int,
                  group: int = LENGTH_GROUP) -> list[list[int]]:
    """This rank's batches for one epoch: shuffle, sort within mega-batches by length, shuffle batches."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(len(lengths), generator=g).tolist()
    mega = batch_size * group
    batches = []
    for s in range(0, len(order), mega):
        chunk = sorted(order[s:s + mega], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    perm = torch.randperm(len(batches), generator=g).tolist()
    batches = [batches[i] for i in perm]
    usable = len(batches) - len(batches) % world  # every rank takes the same number of steps
    return batches[rank:usable:world]


def batches_per_epoch(n_rows: int, batch_size: int, world: int) -> int:
    return (-(-n_rows // batch_size)) // world


PAD_MULTIPLE = 16


def padded_width(longest: int, limit: int | None = None) -> int:
    """Batch width: the longest row rounded up to a multiple of 16, never past ``limit``. Few distinct shapes
    keep oneDNN's per-shape caches bounded (with bf16 on CPU, one shape per length grew memory by ~14 MB
    each, 2.3 GB to 5.3 GB over a run) at the cost of a few pad tokens."""
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    return longest if limit is not None and width > limit else width


def collate(enc: Encoded, idx: list[int], pad_id: int, task: str, limit: int | None = None) -> dict[str, torch.Tensor]:
    """Pad one batch to its own longest row (dynamic padding, rounded up: ``padded_width``)."""
    width = padded_width(max(len(enc.ids[i]) for i in idx), limit)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    labels = torch.full((len(idx), width), IGNORE, dtype=torch.long) if task == "causal_lm" else None
    for r, i in enumerate(idx):
        n = len(enc.ids[i])
        ids[r, :n] = torch.tensor(enc.ids[i])
        mask[r, :n] = 1
        if labels is not None:
            labels[r, :n] = torch.tensor(enc.targets[i])
    if labels is None:
        labels = torch.tensor([enc.targets[i] for i in idx], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def micro_batches(enc: Encoded, batch_size: int, seed: int, world: int, rank: int, skip: int,
                  group: int = LENGTH_GROUP):
    """Endless stream of this rank's batches across epochs, starting after ``skip`` of them (resume)."""
    lengths = [len(x) for x in enc.ids]
    per_epoch = batches_per_epoch(len(lengths), batch_size, world)
    if per_epoch == 0:
        raise InputError(f"{len(lengths)} training rows are too few for batch size {batch_size} on {world} "
                         "processes; lower train.batch_size or add rows.")
    epoch, offset = divmod(skip, per_epoch)
    while True:
        yield from epoch_batches(lengths, batch_size, seed, epoch, world, rank, group)[offset:]
        epoch, offset = epoch + 1, 0
