"""A version's technical file: each clause of ``clauses.CLAUSES`` assessed against the pack's own records (pure).

``assess_coverage(records, governance)`` takes the pack's files (path -> bytes) and the ``governance:`` section
the version was trained under, and gives one ``Row`` a clause: ``evidence`` (the files that answer it, each with
its SHA-256), ``declared`` (answered by ``governance:`` alone) or ``missing`` (with what would fill it). The
pack (``tasks/governance/evidence.py``) writes the rows as ``technical_file.json`` and ``technical_file.md``
before it signs its manifest; ``evidence verify`` prints the counts per block and ``--require-coverage`` refuses
a pack with a missing clause in the blocks it names.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from tasks.declarations import GovernanceConfig
from tasks.governance.clauses import AUDIT, BLOCKS, CLAUSES, CONFIG, MEMO, PII, REVALIDATION, Clause

EVIDENCE, DECLARED, MISSING = "evidence", "declared", "missing"
TECHNICAL_JSON, TECHNICAL_MD = "technical_file.json", "technical_file.md"


@dataclass(frozen=True)
class Row:
    id: str
    block: str
    title: str
    how: str
    status: str
    evidence: dict[str, str] = field(default_factory=dict)  # pack path -> sha256
    declared: list[str] = field(default_factory=list)  # governance fields that answer it
    missing: list[str] = field(default_factory=list)  # what would fill it
    firm: bool = False


def _json(records: dict[str, bytes], path: str) -> dict:
    try:
        return json.loads(records[path])
    except (KeyError, ValueError):
        return {}


def _filled(g: GovernanceConfig | None, path: str) -> bool:
    """``risk_tier.reason``: that field is set; ``data_sources.origin``: there are sources and each sets it."""
    if g is None:
        return False
    head, _, rest = path.partition(".")
    value = getattr(g, head)
    if isinstance(value, list):
        return bool(value) and (not rest or all(getattr(v, rest) for v in value))
    return bool(value) if not rest else value is not None and bool(getattr(value, rest))


def _memorisation(records: dict[str, bytes]) -> str | None:
    """None when the memorisation test was measured and passed its promotion limit, else what is missing."""
    memo, policy = _json(records, MEMO), _json(records, CONFIG).get("promotion", {})
    if not memo.get("measured"):
        return "a measured memorisation test (memorisation.json: membership inference or canaries)"
    if memo.get("method") == "canary_exposure":
        limit = policy.get("max_canary_exposure")
        ok = limit is not None and memo.get("mean_exposure_bits", 1e9) <= limit and memo.get("extracted", 1) == 0
        return None if ok else "canary exposure within promotion.max_canary_exposure and no canary extracted"
    limit = policy.get("max_membership_auc")
    ok = limit is not None and memo.get("auc", 1.0) <= limit
    return None if ok else "a membership-inference AUC within promotion.max_membership_auc (a limit, not null)"


def _extraction(records: dict[str, bytes]) -> str | None:
    if _json(records, PII).get("scrubbed") is False:
        return "PII scrubbing on (pii.enabled): training text with identifiers can be given back"
    if _json(records, CONFIG).get("train", {}).get("task") == "causal_lm":
        return _memorisation(records)  # a generator: its canaries must not come back
    return None  # a classifier returns one of its labels, never text


def _audit_intact(records: dict[str, bytes]) -> str | None:
    chain = _json(records, AUDIT).get("chain", {})
    return None if chain.get("intact") else "an intact audit chain (tunegate audit verify names the break)"


def _revalidated(records: dict[str, bytes]) -> str | None:
    passed = any(_json(records, p).get("passed") is True for p in fnmatch.filter(records, REVALIDATION))
    return None if passed else "a passed re-validation of this version (tunegate revalidate)"


CHECKS = {"memorisation_passed": _memorisation, "extraction_insignificant": _extraction, "audit_intact": _audit_intact,
          "revalidation_passed": _revalidated}


def _matches(records: dict[str, bytes], path: str) -> list[str]:
    """The pack files ``path`` names: itself, or each file matching it when it is a pattern."""
    return sorted(fnmatch.filter(records, path)) if "*" in path else [path] if path in records else []


def _row(c: Clause, records: dict[str, bytes], g: GovernanceConfig | None) -> Row:
    present = {p: hashlib.sha256(records[p]).hexdigest() for e in c.evidence for p in _matches(records, e)}
    missing = [f"{p} in the pack" for p in c.evidence if not _matches(records, p)]
    missing += [f"{'the firm to fill ' if c.firm else ''}governance.{f}" for f in c.declared if not _filled(g, f)]
    problem = CHECKS[c.check](records) if c.check else None
    missing += [problem] if problem else []
    status = MISSING if missing else EVIDENCE if c.evidence else DECLARED
    return Row(c.id, c.block, c.title, c.how, status, present, [f for f in c.declared if _filled(g, f)], missing,
               c.firm)


def assess_coverage(records: dict[str, bytes], governance: GovernanceConfig | None) -> list[Row]:
    """One row a clause, in ``CLAUSES`` order."""
    return [_row(c, records, governance) for c in CLAUSES]


def governance_of(records: dict[str, bytes]) -> GovernanceConfig | None:
    """The ``governance:`` section of the config the version was trained under (None: none declared)."""
    raw = _json(records, CONFIG).get("governance")
    return GovernanceConfig.model_validate(raw) if raw else None


def counts(rows: list[dict] | list[Row]) -> dict[str, dict[str, int]]:
    """Per block: how many rows are evidence, declared, missing."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        r = asdict(r) if isinstance(r, Row) else r
        out.setdefault(r["block"], {EVIDENCE: 0, DECLARED: 0, MISSING: 0})[r["status"]] += 1
    return out


def technical_file(rows: list[Row], governance: GovernanceConfig | None, about: dict) -> dict[str, bytes]:
    """``technical_file.json`` and ``technical_file.md`` of the rows (``about``: model, version, created)."""
    doc = {"format": 1, **about, "coverage": counts(rows), "clauses": [asdict(r) for r in rows],
           "governance": governance.model_dump(mode="json") if governance else None}
    return {TECHNICAL_JSON: json.dumps(doc, indent=2, sort_keys=True).encode(),
            TECHNICAL_MD: markdown(rows, governance, about).encode()}


def markdown(rows: list[Row], governance: GovernanceConfig | None, about: dict) -> str:
    out = [f"# Technical file: {about.get('model')} v{about.get('version')}", "",
           f"Generated {about.get('created')} from this evidence pack's own records; every evidence file is "
           f"listed with its SHA-256 in the signed manifest. Keep until {about.get('keep_until')} "
           f"({about.get('retention')}).", ""]
    if governance is None:
        out += ["**No `governance:` section was declared for this version.**", ""]
    else:
        g, tier = governance, governance.risk_tier
        out += [f"- {label}: {value or '(missing)'}" for label, value in (
            ("Intended purpose", g.intended_purpose), ("Intended users", ", ".join(g.intended_users)),
            ("Out of scope", "; ".join(g.out_of_scope_uses)), ("Owner", g.owner),
            ("Accountable person", g.accountable_person),
            ("Risk tier", tier and f"{tier.level}" + (f" ({tier.reason})" if tier.reason else "")),
            ("Review interval (days)", g.review_interval_days))] + [""]
    for block, title in BLOCKS.items():
        c = counts(rows).get(block, {})
        out += [f"## {title}", "", f"{c.get(EVIDENCE, 0)} evidence, {c.get(DECLARED, 0)} declared, "
                f"{c.get(MISSING, 0)} missing", "", "| clause | status | where | how / what would fill it |",
                "|---|---|---|---|"]
        for r in (r for r in rows if r.block == block):
            where = ", ".join(f"`{p}` ({d[:12]}…)" for p, d in r.evidence.items())
            where += ("; " if where and r.declared else "") + ", ".join(f"governance.{f}" for f in r.declared)
            status = "missing (the firm's to fill)" if r.firm and r.status == MISSING else r.status
            fill = r.how if r.status != MISSING else "needs " + "; ".join(r.missing)
            out.append(f"| {r.id}: {r.title} | {status} | {where or '—'} | {fill} |")
        out.append("")
    return "\n".join(out)


def technical_file_of(records: dict[str, bytes], model: str, version: int, created: str) -> dict[str, bytes]:
    """The technical file of a pack's ``records``, against the governance the version was trained under."""
    governance, years = governance_of(records), _json(records, CONFIG).get("retention", {}).get(
        "technical_file_years", 10)
    keep = datetime.fromisoformat(created)
    keep = keep.replace(year=keep.year + years, day=min(keep.day, 28))  # 28: a 29 February stays a date
    return technical_file(assess_coverage(records, governance), governance,
                          {"model": model, "version": version, "created": created,
                           "keep_until": keep.date().isoformat(), "retention": f"retention.technical_file_years: "
                                                                                f"{years}"})
