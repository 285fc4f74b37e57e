"""The registry lock that serialises alias moves, and the audit head it pins in the registry on release.

``registry_lock`` is a file lock beside the work folder that every process moving an alias (promotion,
approval, rollback, erasure) holds while it reads and moves it; with a Prefect server configured it is also
the global concurrency limit ``tunegate-registry-<model>`` there (``tasks/server_locks.py``), which holds
across machines. On the way out ``publish_head`` writes the
audit log's head (``audit.head``, ``tasks/audit.py``) to the registered model's ``audit_head`` tag, so every
alias move's audit entry is pinned in the registry too; ``registry_head`` reads it back for
``tunegate audit verify``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from tasks.audit import AUDIT_LOG, file_head, pins_this_log
from tasks.audit_verify import parse_head
from tasks.config import RegistryScope
from tasks.errors import RegistryBusy
from tasks.locks import shared_path, use_server
from tasks.server_locks import limit_name, server_lock

HEAD_TAG = "audit_head"


@contextmanager
def registry_lock(reg: RegistryScope, timeout_s: float = 600) -> Iterator[None]:
    """Serialise alias moves: the server's limit where one is configured, and a file lock beside the work
    folder (shared by every process using it); RegistryBusy after ``timeout_s``. On the way out the audit head
    is written to the registry, so every alias move's entry is pinned there."""
    path = reg.work_path("registry.lock")
    path.parent.mkdir(parents=True, exist_ok=True)

    def busy(where: str) -> RegistryBusy:
        return RegistryBusy(f"{reg.model_name}: another process held {where} (alias moves) for over {timeout_s:.0f} s;"
                            " nothing was moved; run again when it has finished.")

    with ExitStack() as held:
        if use_server(reg):
            name = limit_name("registry", reg.model_name)
            held.enter_context(server_lock(name, timeout_s, lambda: busy(f"the server lock {name}")))
        try:
            held.enter_context(FileLock(str(path), timeout=timeout_s, thread_local=False))
        except Timeout:
            raise busy(str(path)) from None
        yield
        publish_head(reg)


def registry_client(reg: RegistryScope):
    """An MLflow client, or None where asking would create a registry (a local SQLite file not made yet)."""
    from tasks.registry.versions import client_for, tracking_uri

    uri = tracking_uri(reg)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    return client_for(reg)


def publish_head(reg: RegistryScope) -> None:
    """Write ``audit.head`` to the registered model's ``audit_head`` tag (best effort: a registry that cannot
    be reached, or a model not registered yet, is logged and skipped; the head file still pins the log)."""
    head = file_head(reg)
    if head is None:
        return
    try:
        client = registry_client(reg)
        if client is None:
            return
        known = parse_head(client.get_registered_model(reg.model_name).tags.get(HEAD_TAG))
        if known is not None and not pins_this_log(reg, *known):
            logging.getLogger("tunegate.audit").warning(
                "the registry's audit head (seq %d) does not match %s: the log was removed, cut or replaced; the "
                "registry head is kept as evidence (run `tunegate audit verify`)", known[0],
                shared_path(reg, AUDIT_LOG))
            return
        if known is None or known[0] < parse_head(head)[0]:
            client.set_registered_model_tag(reg.model_name, HEAD_TAG, head)
    except Exception as e:  # noqa: BLE001 - no registry (yet): nothing to pin the head in
        logging.getLogger("tunegate.audit").info("audit head not written to the registry (%s)", type(e).__name__)


def registry_head(reg: RegistryScope) -> tuple[str | None, str]:
    """(the registered model's ``audit_head`` tag, or None; a note on where it came from)."""
    from mlflow.exceptions import MlflowException

    client = registry_client(reg)
    if client is None:
        return None, "no registry in this work folder yet: no registry head to compare"
    try:
        tags = client.get_registered_model(reg.model_name).tags
    except MlflowException:
        return None, f"model '{reg.model_name}' is not registered: no registry head to compare"
    head = tags.get(HEAD_TAG)
    return head, ("the registry holds no audit head yet (no alias move or registration since HMAC chaining)"
                  if head is None else "")
