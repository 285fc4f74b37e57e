"""Stage 4c, governance: who may change the champion, under which rules, and the evidence a regulator reads.

In: registered versions (``tasks/registry``), the pipeline config and the audit log. Out: approvals and
refusals recorded, rollbacks carried out or requested, signed evidence packs.

- ``pinning``: the config a deployment pins; ``policy``: what a run may change in it (tighten only) and whose
  names count.
- ``approval``: the decision on a reviewer's answer (pure, with four-eyes); ``task``: the Prefect boundary
  (pinned-config check, who started a run, apply an approval).
- ``rollback``: governed rollback (only to a version once promoted; a request and an approval under
  ``promotion.require_approval``).
- ``evidence``: a version's signed evidence pack; ``evidence_verify`` checks it against trusted keys;
  ``audit_check``: ``tunegate audit verify`` (the chain and every head).
- ``clauses`` (the regulatory clauses, as data) and ``coverage`` (``assess_coverage``, pure): the technical file
  every pack carries; ``envelope``: a candidate classified against the declared change envelope (outside: four-eyes
  approval whatever the policy); ``compute`` and ``sbom``: what training cost and the environment it ran in;
  ``inventory``: ``tunegate inventory``, every version with its status and review due.

It sits after the registry on the import ladder: it acts on versions and aliases, and the registry never
imports it. The keys (``tasks/keys.py``) and the audit log (``tasks/audit.py``) are in the common layer,
since every stage writes audit lines.
"""
