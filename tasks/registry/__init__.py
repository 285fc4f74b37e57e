"""Stage 4b, the model registry (MLflow): versions, promotion and the evidence a regulator reads.

In: a model folder, its ``EvalReport`` and lineage. Out: a registered ``VersionRef``, aliases moved.

- ``versions``: register versions atomically, move aliases under a lock, audit every move.
- ``audit``: the lock that serialises alias moves, and the HMAC-chained audit log that records each one
  (``audit_verify`` checks it against its heads: ``audit.head``, the registry's tag, a pack).
- ``keys``: the audit and evidence keys (never in the work folder; required in a deployment's runs).
- ``evidence``: a version's signed evidence pack; ``evidence_verify`` checks it against trusted keys.
- ``promote``: decide promotion (pure), then apply it.
- ``rollback``: governed rollback (only to a version once promoted; a request and an approval under
  ``promotion.require_approval``).
- ``card``: the model card of each version.
"""
