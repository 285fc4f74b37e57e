"""The model the recipe trains and its loss: build, wrap, weigh, score.

``build_model`` loads the base model for the task (a sequence classifier, on the mean of the tokens or on
``[CLS]``: ``tasks.train.pooling``, or a causal LM) and, for
``method: lora``, adds the adapter (default target modules per architecture in ``LORA_TARGETS``);
``wrap_parallel`` wraps it in DDP or FSDP when several processes train; ``balanced_weights`` gives
the class weights, ``forward_loss`` the summed loss that accumulation and ranks average by count, and
``evaluate`` the validation loss and accuracy. ``tasks.train.recipe`` runs them in each torchrun
process.
"""

from __future__ import annotations

import torch

from tasks.config import TrainConfig
from tasks.train import data as td

LORA_TARGETS = {  # sensible defaults per architecture (model_type)
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "mpnet": ["attn.q", "attn.k", "attn.v", "attn.o", "intermediate.dense", "output.dense"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}


def build_model(t: TrainConfig, base: str, label_names: list[str], tok, device: torch.device):
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    arch = AutoConfig.from_pretrained(base, local_files_only=True).model_type
    extra = {}
    if t.task == "classification" and t.pooling == "mean":
        from tasks.train.pooling import new_classifier

        model = new_classifier(base, len(label_names))
        task_type, extra = None, {"modules_to_save": ["classifier"]}  # PEFT saves the new head with the adapter
    elif t.task == "classification":
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, local_files_only=True)
        task_type = TaskType.SEQ_CLS  # PEFT puts the new classifier head in modules_to_save
    else:
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
        task_type = TaskType.CAUSAL_LM
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    if t.gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) and with DDP.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if t.method == "lora":
        targets = t.lora.target_modules or LORA_TARGETS.get(arch)
        if not targets:
            raise SystemExit(f"no default LoRA target modules for model type '{arch}'; set train.lora.target_modules")
        lcfg = LoraConfig(task_type=task_type, r=t.lora.r, lora_alpha=t.lora.alpha, lora_dropout=t.lora.dropout,
                          target_modules=targets, **extra)
        model = get_peft_model(model, lcfg)
    return model.to(device), arch


def wrap_parallel(model, world: int, fsdp: bool, device: torch.device):
    if world == 1:
        return model
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        for m in model.modules():  # shard per transformer block, then the rest
            if type(m).__name__.endswith(("DecoderLayer", "Layer")) and not isinstance(m, torch.nn.ModuleList):
                fully_shard(m)
        return fully_shard(model)
    from torch.nn.parallel import DistributedDataParallel as DDP

    # LoRA leaves most parameters frozen but every trainable one is used: no unused-parameter search.
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False)


def balanced_weights(targets: list[int], classes: int) -> torch.Tensor:
    """rows / (classes × rows of each class); a class absent from the training rows gets weight 1."""
    counts = torch.bincount(torch.tensor(targets, dtype=torch.long), minlength=classes).double()
    weights = counts.sum() / (classes * counts.clamp(min=1))
    return torch.where(counts > 0, weights, torch.ones_like(weights)).float()


# train.class_weights: auto weighs the loss (balanced) when the training rows' largest class has more than this
# many times the rows of the smallest. Measured: CFPB (50x) gains macro-F1 0.462 -> 0.550-0.560 with balanced
# weights; the sample corpus (3x) learns to 0.96-0.985 without them and stays unweighted. Where between 3x and
# 50x weighting starts to pay is not measured; 5x is a conservative "clearly imbalanced".
AUTO_IMBALANCE_RATIO = 5.0


def loss_weights(setting: str, targets: list[int], classes: int) -> torch.Tensor | None:
    """The class weights ``train.class_weights`` asks for: ``balanced``, ``none``, or ``auto`` (balanced when the
    training rows are imbalanced beyond ``AUTO_IMBALANCE_RATIO``)."""
    if setting == "none":
        return None
    if setting == "auto":
        counts = torch.bincount(torch.tensor(targets, dtype=torch.long), minlength=classes)
        present = counts[counts > 0]
        if len(present) < 2 or float(present.max()) <= AUTO_IMBALANCE_RATIO * float(present.min()):
            return None
    return balanced_weights(targets, classes)


def forward_loss(model, batch: dict, task: str, dtype, weight: torch.Tensor | None = None):
    """(summed loss, count, logits) so that accumulation and ranks can be averaged by count. With class
    weights the sum is weighted; balanced weights average 1 over the training rows, so the count still fits."""
    with torch.autocast(batch["input_ids"].device.type, dtype=dtype, enabled=dtype is not None):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    if task == "classification":
        labels = batch["labels"]
    else:
        logits, labels = logits[:, :-1], batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1),
                                             weight=weight, ignore_index=td.IGNORE, reduction="sum")
    return loss, int((labels != td.IGNORE).sum()), logits


@torch.no_grad()
def evaluate(model, enc: td.Encoded, task: str, dtype, device, pad_id: int, batch_size: int,
             weight: torch.Tensor | None = None, spread: bool = False, rows: dict | None = None) -> dict:
    """Validation loss (class-weighted when ``weight`` is given: the training objective) and accuracy; with
    ``spread``, also how many distinct classes the model predicts (1 = it collapsed onto one class). ``rows``
    (classification): filled with each row's ``logits`` and ``labels``, in the rows' order (numpy)."""
    model.eval()
    lengths = [len(x) for x in enc.ids]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    loss_sum = count = correct = 0.0
    predicted: set[int] = set()
    kept: list[torch.Tensor] = []
    for s in range(0, len(order), batch_size):
        batch = {k: v.to(device) for k, v in td.collate(enc, order[s:s + batch_size], pad_id, task).items()}
        loss, n, logits = forward_loss(model, batch, task, dtype, weight)
        loss_sum, count = loss_sum + float(loss), count + n
        if task == "classification":
            correct += float((logits.argmax(-1) == batch["labels"]).sum())
            predicted.update(logits.argmax(-1).tolist())
            if rows is not None:
                kept.append(logits.float().cpu())
    if rows is not None and task == "classification" and kept:
        logits = torch.empty((len(order), kept[0].shape[-1]))
        logits[torch.tensor(order)] = torch.cat(kept)
        rows.update(logits=logits.numpy(), labels=torch.as_tensor(enc.targets).numpy())
    model.train()
    out = {"val_loss": loss_sum / max(count, 1), "val_rows": len(order)}
    if task == "classification":
        out["val_accuracy"] = correct / max(len(order), 1)
        if spread:
            out["predicted_classes"] = len(predicted)
    return out
