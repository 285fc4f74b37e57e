"""The model inventory (PRA SS1/23 principle 1): every version of the config's model, with its owner, tier, status,
trigger, last validation, next review and change-envelope classification; overdue reviews flagged.

``inventory_rows`` is pure (table-tested): it takes what ``read_versions`` gathered from the registry (tags,
aliases, registration time, the version's ``envelope.json`` and its newest passed re-validation where it has them)
and the ``governance:`` section. A version's review is due ``governance.review_interval_days`` after its last
validation (``<work_dir>/revalidations/vN-<time>.json``, written by ``tunegate revalidate``; a failed one does not
count), or after its registration where it was never revalidated; a review is overdue only for a version that
serves (champion or challenger).
``tunegate inventory --config C [--format md|json]`` prints it; the retrain flow publishes it as a table artifact.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tasks.config import RegistryScope
from tasks.declarations import GovernanceConfig
from tasks.registry.erasure import ARCHIVED, PENDING
from tasks.registry.promote import PROMOTED_AT

SERVING = ("champion", "challenger")


@dataclass(frozen=True)
class VersionFacts:
    version: int
    tags: dict[str, str]
    aliases: list[str]
    registered: datetime
    envelope: dict | None = None  # the version's envelope.json
    revalidation: dict | None = None  # its newest passed revalidation record (last_revalidation)


@dataclass(frozen=True)
class InventoryRow:
    model: str
    version: int
    owner: str | None
    tier: str | None
    status: str
    trigger: str | None
    last_validation: str  # ISO time, or "never"
    next_review_due: str | None
    overdue: bool
    envelope: str  # inside | outside | not classified


def status_of(f: VersionFacts) -> str:
    """pending erasure, archived, champion, challenger, rejected, pending approval, or retired (a former champion)."""
    if f.tags.get(PENDING):
        return "pending erasure"
    if f.tags.get(ARCHIVED):
        return "archived"
    for alias in SERVING:
        if alias in f.aliases:
            return alias
    if f.tags.get(PROMOTED_AT):
        return "retired"
    return "pending approval" if f.tags.get("decision") == "promote" else "rejected"


def _validated(f: VersionFacts) -> datetime | None:
    r = f.revalidation or {}
    when = r.get("at") or r.get("validated_at") or r.get("created")
    try:
        return datetime.fromisoformat(when).astimezone(UTC) if when else None
    except ValueError:
        return None


def inventory_rows(model: str, versions: list[VersionFacts], governance: GovernanceConfig | None,
                   now: datetime) -> list[InventoryRow]:
    """One row a version, newest first."""
    g = governance
    out = []
    for f in sorted(versions, key=lambda v: -v.version):
        status, validated = status_of(f), _validated(f)
        due = (validated or f.registered) + timedelta(days=g.review_interval_days) \
            if g and g.review_interval_days else None
        env = "not classified" if f.envelope is None else "inside" if f.envelope.get("inside") else "outside"
        out.append(InventoryRow(
            model=model, version=f.version, owner=g.owner if g else None,
            tier=g.risk_tier.level if g and g.risk_tier else None, status=status, trigger=f.tags.get("trigger"),
            last_validation=validated.isoformat(timespec="seconds") if validated else "never",
            next_review_due=due.date().isoformat() if due else None,
            overdue=bool(due and due < now and status in SERVING), envelope=env))
    return out


def render(rows: list[InventoryRow], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    head = ["model", "version", "owner", "tier", "status", "trigger", "last validation", "next review due",
            "envelope"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        due = f"{r.next_review_due} **OVERDUE**" if r.overdue else (r.next_review_due or "—")
        cells = [r.model, f"v{r.version}", r.owner or "—", r.tier or "—", r.status, r.trigger or "—",
                 r.last_validation, due, r.envelope]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    overdue = sum(r.overdue for r in rows)
    return "\n".join(lines + ([f"\n{overdue} review(s) overdue"] if overdue else []))


def _artifact(client, run_id: str, name: str) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text())
        except Exception:  # noqa: BLE001 - not recorded with this version (older tunegate, never revalidated)
            return None


def last_revalidation(folder: Path, version: int) -> dict | None:
    """The newest passed ``tunegate revalidate`` record of ``version`` in ``folder`` (``<work_dir>/revalidations``,
    ``v<N>-<time>.json``); None when it was never re-validated or never passed."""
    passed = []
    for p in Path(folder).glob(f"v{version}-*.json"):
        try:
            record = json.loads(p.read_text())
        except ValueError:
            continue
        if record.get("passed") is True and record.get("version") == version and record.get("at"):
            passed.append(record)
    return max(passed, key=lambda r: r["at"], default=None)


def read_versions(reg: RegistryScope) -> list[VersionFacts]:
    """Every complete version of the model in the registry, with what the inventory reads of it."""
    from mlflow.exceptions import MlflowException

    from tasks.registry.versions import _is_complete, client_for

    client = client_for(reg)
    try:
        aliases = client.get_registered_model(reg.model_name).aliases or {}
    except MlflowException:  # no such model yet: no versions
        return []
    out = []
    for mv in client.search_model_versions(f"name='{reg.model_name}'"):
        if not _is_complete(mv):
            continue
        out.append(VersionFacts(
            version=int(mv.version), tags=dict(mv.tags or {}),
            aliases=[a for a, v in aliases.items() if str(v) == str(mv.version)],
            registered=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            envelope=_artifact(client, mv.run_id, "envelope.json"),
            revalidation=last_revalidation(reg.work_path("revalidations"), int(mv.version))))
    return out


def inventory_command(config_path: str, fmt: str) -> str:
    """``tunegate inventory --config C [--format md|json]``."""
    from tasks.config import load_config

    cfg = load_config(config_path)
    rows = inventory_rows(cfg.model_name, read_versions(cfg.registry_scope), cfg.governance, datetime.now(UTC))
    return render(rows, fmt) if rows else f"no registered version of {cfg.model_name} yet"
