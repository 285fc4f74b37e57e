"""Locks that hold across machines: global concurrency limits on the Prefect server.

A file lock serialises the processes that share one work folder. Workers on several machines share only the
Prefect server (and MLflow), so where ``PREFECT_API_URL`` is set the retrain, registry and audit locks are
also taken on the server, as a global concurrency limit of one slot per lock and model
(``tunegate-retrain-<model>``), created where missing and put back to one slot where someone changed it.

A holder owns a lease that a thread renews every ``LEASE_S / 3`` seconds. A holder killed without releasing
stops renewing, and the server frees the slot once the lease has run out: a crash never blocks a model for
good. A renewal that fails is logged; the lease then lapses ``LEASE_S`` after the last renewal, and the
alias moves that matter still need the server (the registry lock is taken afresh for each).

A configured server that cannot be reached is ``LockServerUnreachable``, never a quiet fall back to the file
lock, which would let a second machine in.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID

from tasks.errors import LockServerUnreachable, TunegateError

LEASE_S = 60.0  # a killed holder's slot is free this long after its last renewal (plus the server's sweep)
log = logging.getLogger("tunegate.locks")


def server_url() -> str | None:
    """The Prefect API the locks live on (``PREFECT_API_URL``), or None: one machine, file locks only."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def limit_name(kind: str, model_name: str) -> str:
    return f"tunegate-{kind}-{model_name}"


@contextmanager
def server_lock(name: str, wait_s: float, busy: Callable[[], TunegateError]) -> Iterator[None]:
    """Hold global concurrency limit ``name`` (one slot) for the block: ``busy()`` is raised when it is still
    held by another after ``wait_s`` seconds (0: no wait), LockServerUnreachable when the server cannot be
    asked."""
    lease = _acquire(name, wait_s, busy)
    stop = threading.Event()
    # in this context: Prefect's settings (the server's URL) are context variables a bare thread would not see
    renewer = threading.Thread(target=contextvars.copy_context().run, args=(_renew, name, lease, stop),
                               daemon=True, name=f"lease-{name}")
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        _release(name, lease)


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _acquire(name: str, wait_s: float, busy: Callable[[], TunegateError]) -> UUID:
    from httpx import HTTPStatusError

    deadline = time.monotonic() + wait_s
    try:
        with _client() as client:
            _ensure_limit(client, name)
            while True:
                try:
                    response = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", LEASE_S)
                except HTTPStatusError as e:
                    if e.response.status_code != 423:  # 423 Locked: the slot is taken
                        raise
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise busy() from None
                    time.sleep(min(left, max(0.2, min(2.0, float(e.response.headers.get("Retry-After", 1))))))
                    continue
                body = response.json()
                if not body.get("limits"):  # deleted between the check and the take: never run unlocked
                    raise LockServerUnreachable(f"the concurrency limit {name} disappeared from the Prefect server "
                                                "while it was being taken; run again (nothing was started).")
                return UUID(body["lease_id"])
    except TunegateError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever stops the server answering: named, never a silent fallback
        raise LockServerUnreachable(
            f"the Prefect server at {server_url()} (PREFECT_API_URL) could not give the lock {name} "
            f"({type(e).__name__}); start the server or correct PREFECT_API_URL and its credentials, then run "
            "again (nothing was started; no local lock stands in for a configured server).") from None


def _ensure_limit(client, name: str) -> None:
    """Create the limit with one slot, or put it back to one active slot without decay."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:  # another worker created it first
            pass
        return
    if limit.limit != 1 or not limit.active or limit.slot_decay_per_second:
        client.update_global_concurrency_limit(
            name, GlobalConcurrencyLimitUpdate(limit=1, active=True, slot_decay_per_second=0))


def _renew(name: str, lease: UUID, stop: threading.Event) -> None:
    with _client() as client:
        while not stop.wait(LEASE_S / 3):
            try:
                client.renew_concurrency_lease(lease, LEASE_S)
            except Exception as e:  # noqa: BLE001 - retried at the next tick; the lease lapses if none succeeds
                log.warning("lock %s: lease not renewed (%s); it lapses %.0f s after the last renewal",
                            name, type(e).__name__, LEASE_S)


def _release(name: str, lease: UUID) -> None:
    try:
        with _client() as client:
            client.release_concurrency_slots_with_lease(lease)
    except Exception as e:  # noqa: BLE001 - the slot is then freed when its lease lapses
        log.warning("lock %s: not released (%s); the server frees it within %.0f s", name, type(e).__name__,
                    LEASE_S)
