"""Tiny models built offline from a config, with a tokenizer trained on the fly: fast stand-ins for tests.

``tiny_bert(folder)`` saves a 2-layer BertModel checkpoint (no classifier head, like the packaged MiniLM);
``tiny_llama(folder)`` saves a 2-layer LlamaForCausalLM. ``toy_claims(n)`` makes a learnable labelled frame.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

LABELS = ["motor", "fire", "theft", "storm"]
CUES = {"motor": ["car", "collision", "bumper"], "fire": ["smoke", "flames", "burnt"],
        "theft": ["stolen", "burglary", "missing"], "storm": ["wind", "roof", "tiles"]}
FILLER = ["the", "insured", "reported", "that", "on", "arrival", "our", "assessor", "noted", "damage", "to",
          "property", "and", "the", "customer", "asked", "about", "cover", "under", "the", "policy", "excess",
          "applies", "settlement", "pending", "review"]


def toy_claims(n: int, seed: int = 0) -> pd.DataFrame:
    """Claim-like notes of varied length whose label is signalled by a cue word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = rng.choices(FILLER, k=rng.randint(4, 40))
        words.insert(rng.randrange(len(words) + 1), rng.choice(CUES[label]))
        rows.append({"id": f"doc-{i:06d}", "text": " ".join(words), "label": label,
                     "response": f"{label} claim"})
    return pd.DataFrame(rows)


def toy_split(folder: Path, n: int = 240):
    """``toy_claims(n)`` written to ``folder`` and split 65/15/20 (seed 13): the recipe tests' data."""
    from tasks.refs import DatasetRef
    from tasks.train.split import write_split

    df = toy_claims(n)
    df.to_parquet(Path(folder) / "ds.parquet")
    return write_split(DatasetRef(uri=str(Path(folder) / "ds.parquet"), sha256="s", rows=len(df), columns={}),
                       0.2, 0.15, 13, Path(folder))


def _corpus() -> list[str]:
    df = toy_claims(200)
    return df["text"].tolist() + [f"{x} claim" for x in LABELS] + ["### Response:"]


def _train_tokenizer(kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        return tok, {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                     "mask_token": "[MASK]"}
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(_corpus(), trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    return tok, {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


def _save_tokenizer(kind: str, folder: Path) -> int:
    from transformers import PreTrainedTokenizerFast

    tok, specials = _train_tokenizer(kind)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **specials)
    fast.save_pretrained(folder)
    return tok.get_vocab_size()


def tiny_bert(folder: Path, seed: int = 0, sentence_pooling: str | None = None) -> Path:
    """With ``sentence_pooling`` ("mean", "cls"), the folder also carries sentence-transformers' modules.json and
    1_Pooling/config.json, as a sentence-embedding model such as the packaged MiniLM does."""
    import json

    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)  # the random init is part of the fixture: unseeded, learning tests were flaky
    folder = Path(folder)
    vocab = _save_tokenizer("bert", folder)
    cfg = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=256, pad_token_id=0)
    BertModel(cfg).save_pretrained(folder)
    if sentence_pooling:
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": 32, "pooling_mode_cls_token": sentence_pooling == "cls",
            "pooling_mode_mean_tokens": sentence_pooling == "mean"}))
    return folder


def tiny_llama(folder: Path, seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2, kv_heads: int = 1,
               intermediate: int = 64) -> Path:
    """A random LlamaForCausalLM (2 layers, 32 wide unless told; benchmarks build larger ones)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    folder = Path(folder)
    vocab = _save_tokenizer("llama", folder)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv_heads, intermediate_size=intermediate, max_position_embeddings=512,
                      pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=False)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder
