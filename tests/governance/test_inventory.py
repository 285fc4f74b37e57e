"""The model inventory (tasks/governance/inventory.py): status, last validation, review due, overdue flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tasks.declarations import GovernanceConfig
from tasks.governance.inventory import VersionFacts, inventory_rows, render, status_of

NOW = datetime(2026, 12, 7, tzinfo=UTC)
GOV = GovernanceConfig(owner="Claims Ops", risk_tier={"level": "medium"}, review_interval_days=90)


def _v(version=1, tags=None, aliases=(), registered=datetime(2026, 11, 1, tzinfo=UTC), **kw) -> VersionFacts:
    return VersionFacts(version=version, tags=tags or {"decision": "promote", "trigger": "schedule"},
                        aliases=list(aliases), registered=registered, **kw)


@pytest.mark.parametrize("facts, status", [
    (_v(aliases=["champion"], tags={"promoted_at": "x"}), "champion"),
    (_v(aliases=["challenger"], tags={"decision": "reject"}), "challenger"),
    (_v(tags={"decision": "reject"}), "rejected"),
    (_v(tags={"decision": "promote"}), "pending approval"),
    (_v(tags={"promoted_at": "x", "decision": "promote"}), "retired"),
    (_v(aliases=["champion"], tags={"erasure_pending": "erasure-1"}), "pending erasure"),
    (_v(tags={"archived": "erasure-1", "promoted_at": "x"}), "archived"),
])
def test_each_version_has_one_status(facts, status):
    assert status_of(facts) == status


@pytest.mark.parametrize("facts, last, due, overdue", [
    (_v(aliases=["champion"]), "never", "2027-01-30", False),  # 90 days after registration
    (_v(aliases=["champion"], registered=datetime(2026, 1, 1, tzinfo=UTC)), "never", "2026-04-01", True),
    (_v(aliases=["champion"], registered=datetime(2026, 1, 1, tzinfo=UTC),
        revalidation={"at": "2026-11-20T10:00:00+00:00"}), "2026-11-20T10:00:00+00:00", "2027-02-18", False),
    (_v(tags={"decision": "reject", "trigger": "schedule"}, registered=datetime(2026, 1, 1, tzinfo=UTC)), "never",
     "2026-04-01", False),
])
def test_reviews_fall_due_after_the_last_validation_and_only_serving_versions_are_overdue(facts, last, due, overdue):
    [row] = inventory_rows("m", [facts], GOV, NOW)
    assert (row.last_validation, row.next_review_due, row.overdue) == (last, due, overdue)
    assert (row.owner, row.tier, row.trigger) == ("Claims Ops", "medium", "schedule")


def test_the_inventory_renders_newest_first_with_envelope_and_overdue_flag():
    rows = inventory_rows("m", [_v(1, aliases=["champion"], registered=datetime(2026, 1, 1, tzinfo=UTC),
                                   envelope={"inside": True}),
                                _v(2, aliases=["challenger"], envelope={"inside": False})], GOV, NOW)
    assert [(r.version, r.envelope) for r in rows] == [(2, "outside"), (1, "inside")]
    md = render(rows, "md")
    assert "| m | v1 | Claims Ops | medium | champion | schedule | never | 2026-04-01 **OVERDUE** | inside |" in md
    assert "1 review(s) overdue" in md
    assert [r["status"] for r in json.loads(render(rows, "json"))] == ["challenger", "champion"]
    [ungoverned] = inventory_rows("m", [_v()], None, NOW)
    assert (ungoverned.owner, ungoverned.next_review_due, ungoverned.envelope) == (None, None, "not classified")


def test_the_last_validation_is_the_newest_passed_revalidation_record_of_that_version(tmp_path):
    from tasks.governance.inventory import last_revalidation

    def record(name: str, version: int, passed: bool, at: str) -> None:
        (tmp_path / name).write_text(json.dumps({"version": version, "passed": passed, "at": at}))

    assert last_revalidation(tmp_path / "none", 1) is None
    record("v1-a.json", 1, True, "2026-11-01T10:00:00+00:00")
    record("v1-b.json", 1, False, "2026-12-01T10:00:00+00:00")  # failed: not a validation
    record("v12-c.json", 12, True, "2026-12-05T10:00:00+00:00")  # another version
    (tmp_path / "v1-d.json").write_text("{broken")
    assert last_revalidation(tmp_path, 1)["at"] == "2026-11-01T10:00:00+00:00"
    record("v1-e.json", 1, True, "2026-12-06T10:00:00+00:00")
    assert last_revalidation(tmp_path, 1)["at"] == "2026-12-06T10:00:00+00:00"
    assert last_revalidation(tmp_path, 2) is None
