"""The config a deployment pins, and what one of its runs may change in it.

``deployments.serve`` (what ``tunegate up`` starts) pins the config it loaded: its canonical JSON goes into
the serve process's environment (``TUNEGATE_DEPLOYED_CONFIG``), which every flow-run subprocess it starts
inherits, and the deployments' description and tags show its digest. A flow-run parameter cannot reach a
process's environment, nor can an API edit of the deployment (Prefect's Runner applies no job variables), so
a run's config is compared with the pin, never with the deployment's parameters read back from the server.
A deployment's run with no pin stops (``DeploymentNotPinned``). Outside a deployment (the CLI) nothing is
pinned: the person at the CLI owns the config file; its digest goes to MLflow (``config_sha256``) and to
each promotion's audit entry. On a work pool (``tunegate deploy``, deployments/pool.py) the pin is the
deployments' ``env`` job variable, which a worker puts into each run's environment: a run may not bring job
variables of its own, and whoever may update a deployment through the API could change it (docs/operations.md).

A run's config may differ from the pin only in the policy fields of ``RULES``, and only towards stricter;
every other field (``work_dir``, ``registry.*``, ``data.*``, ``train.base_model``, the multi-node settings,
``pii.operators``, the key's location, …) must equal the pinned value. ``loosened`` lists each difference
that is not allowed, naming the field; numbers and switches are shown, text and lists never (a tracking URI
may hold a password, a keep-list a name): only how many items were added or removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field

from tasks.config import PipelineConfig
from tasks.errors import ConfigError

PIN_ENV = "TUNEGATE_DEPLOYED_CONFIG"

# How each field may change in a run. min: only up; max: only down (None at deployment: no limit, so any
# value is as strict; None in the run: the limit is removed); on: only switched on; subset: a list that may
# only lose items (each item lets more through); superset: a list that may only gain items; floors: metrics
# may be added, each floor only raised; rank: along RANKS, from weakest to strictest; off: only switched off.
# Absent: must be equal.
RULES: dict[str, str] = {
    "promotion.min_improvement": "min", "promotion.min_gain_over_baseline": "min",
    "promotion.max_membership_auc": "max", "promotion.max_canary_exposure": "max", "promotion.floors": "floors",
    "promotion.max_class_regression": "max", "promotion.require_approval": "on", "promotion.four_eyes": "on",
    "promotion.approval_timeout_s": "max",  # sooner: no decision leaves the champion in place
    "train.canaries": "min",  # fewer canaries: a weaker memorisation test
    "pii.enabled": "on", "pii.locales": "superset", "pii.score_threshold": "max",  # lower: more is replaced
    "pii.require_key": "rank", "pii.subject_index": "on", "pii.references": "superset",
    "pii.keep.literals": "subset", "pii.keep.patterns": "subset", "pii.residual_max_rate": "max",
    "pii.estimate_docs": "min", "pii.min_estimated_recall": "min",
    "quality.min_rows": "min", "quality.min_text_chars": "min", "quality.max_text_chars": "max",
    "quality.require_labels": "on", "quality.min_per_class": "min", "quality.max_duplicate_text_share": "max",
    "quality.require_timestamp": "on",
    "retention.keep_raw_days": "max", "retention.predictions_days": "max", "retention.erased_versions": "rank",
    "retention.checkpoints_days": "max", "retention.deleted_runs_days": "max", "retention.run_models_days": "max",
    "retention.monitor_cache_days": "max", "retention.leftovers_hours": "max", "retention.pending_versions_days": "max",
    "pii.allow_dev_key": "off",  # a made-up key is never stricter than a managed one
    "data.non_personal_columns": "subset",  # a column taken off the list is scrubbed, not only scanned
    "promotion.require_significant_gain": "on", "promotion.max_slice_regression": "max",
    "evaluate.slices": "superset", "evaluate.min_slice_rows": "max",  # more slices gated: stricter
    "promotion.max_robustness_drop": "max",
    "evaluate.target_accuracy": "min",  # lower: more documents decided without a person
    "retention.audit_days": "min", "retention.technical_file_years": "min",  # records: only kept longer
    "governed": "on",  # governance.* (purpose, owner, tier, sources, change envelope) has no rule: equal, whole
}
RANKS: dict[str, tuple] = {"pii.require_key": (False, None, True),  # None: required in deployments' runs
                           "retention.erased_versions": ("keep", "delete_artifacts")}

# The config parameter of a deployment's flow: shown in the run form, marked read-only in its JSON schema
# (Prefect's UI draws the field all the same; the pin check is what holds).
DeployedConfig = Annotated[PipelineConfig, Field(
    description="Pinned at deployment: a run may only tighten policy fields (tasks/governance/pinning.py).",
    json_schema_extra={"readOnly": True})]


def pin_environment(cfg: PipelineConfig) -> dict[str, str]:  # the whole config: it is what is pinned
    """The environment that pins ``cfg`` for the flow runs a process starts."""
    return {PIN_ENV: json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))}


def read_pin(environ: Mapping[str, str]) -> PipelineConfig | None:
    """The pinned config in ``environ``, or None when there is none."""
    raw = environ.get(PIN_ENV)
    if not raw:
        return None
    try:
        return PipelineConfig.model_validate(json.loads(raw))
    except ValueError:  # JSONDecodeError and ValidationError
        raise ConfigError(f"${PIN_ENV}: not a pipeline config; start the deployments with tunegate up (or "
                          "python -m deployments.serve), which sets it.") from None


def _canon(v: Any) -> str:
    return json.dumps(v.model_dump(mode="json") if isinstance(v, BaseModel) else v, sort_keys=True, default=str)


def _changed(a: BaseModel, b: BaseModel, path: str, out: list[str]) -> None:
    """Dotted paths of the fields (down to sections' leaves) where ``a`` and ``b`` differ, as serialised (an
    int default of a float field equals the float it becomes when read back)."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    for name in type(a).model_fields:
        va, vb, where = getattr(a, name), getattr(b, name), f"{path}.{name}" if path else name
        if isinstance(va, BaseModel) and type(va) is type(vb):
            _changed(va, vb, where, out)
        elif _canon(da[name]) != _canon(db[name]):
            out.append(where)


def _shown(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float)


def _line(path: str, a: Any, b: Any) -> str:
    return f"{path}: {a} -> {b}" if _shown(a) and _shown(b) else f"{path}: changed"


def _looser(rule: str, a: Any, b: Any, path: str) -> bool:
    if rule == "on":
        return bool(a) and not b
    if rule == "off":
        return bool(b) and not a
    if rule == "rank":
        order = RANKS[path]
        return b not in order or order.index(b) < order.index(a)
    if a is None:  # min/max: no limit at deployment, anything is as strict or stricter
        return False
    if b is None:  # the limit was removed
        return True
    return b < a if rule == "min" else b > a


def _judge(path: str, a: Any, b: Any) -> list[str]:
    rule = RULES.get(path, "equal")
    if rule in ("subset", "superset"):
        old, new = {_canon(x) for x in a}, {_canon(x) for x in b}
        grown = new - old if rule == "subset" else old - new
        return [f"{path}: {len(grown)} {'added' if rule == 'subset' else 'removed'}"] if grown else []
    if rule == "floors":
        return [f"{path}.{m}: {v} -> {b.get(m)}" for m, v in sorted(a.items()) if _looser("min", v, b.get(m), path)]
    if rule == "equal" or _looser(rule, a, b, path):
        return [_line(path, a, b)]
    return []


def loosened(deployed: PipelineConfig, run: PipelineConfig) -> list[str]:  # the whole config: every field is compared
    """Each difference of the run's config from the deployed one that is not a tightening, naming the field."""
    paths: list[str] = []
    _changed(deployed, run, "", paths)
    out: list[str] = []
    for path in paths:
        a, b = deployed, run
        for part in path.split("."):
            a, b = getattr(a, part), getattr(b, part)
        out += _judge(path, a, b)
    return out
