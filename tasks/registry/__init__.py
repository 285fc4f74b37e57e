"""Stage 4b, the model registry (MLflow): versions, aliases, promotion, and what a version carries with it.

In: a model folder, its ``EvalReport`` and lineage. Out: a registered ``VersionRef``, aliases moved.

- ``versions``: register versions atomically, resolve and move aliases.
- ``lock``: the lock that serialises alias moves, and the audit head it pins in the registry on release.
- ``signing``: the digests of a version's evidence files, signed at registration.
- ``promote``: decide promotion (pure), then apply it.
- ``candidate``, ``card``, ``lineage``: what a version is made of, its model card, where its rows came from.
- ``erasure``, ``withdraw``: versions trained on erased subjects' documents, archived or withdrawn.

Approval, four-eyes, the pinned policy, rollback and the evidence pack are governance (``tasks/governance``).
"""
