"""Which production batches may join training: only files in ``deploy.inbox``, by their real path.

A retrain's ``batch`` is a run parameter: anyone who can start a run could otherwise name any file the worker
can read and have it scrubbed into the training set (and the model, and the MLflow reference sample). The
batch's path is resolved (``..`` and symbolic links followed) and must lie inside the resolved inbox folder;
for a folder batch, so must every file in it. No inbox configured means no batch may join. Each admission
writes the batch's SHA-256 to the audit log, each refusal the reason; both name the path, never its content.
Limit: the check and the read are separate moments, so whoever can write into the inbox can still swap a file
there in between (they could add a batch anyway).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.config import DataConfig, RegistryScope
from tasks.errors import BatchOutsideInbox

ADMITTED, REFUSED = "retrain.batch_admitted", "retrain.batch_refused"


class AdmittedBatch(BaseModel):
    """A batch that may join training: its real path and the SHA-256 of its bytes (a folder: of its files)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str


def inbox_violation(batch: str, inbox: str | None) -> str | None:
    """Why ``batch`` may not join training (None: it may); pure, reads only the file system's names."""
    if not inbox:
        return ("deploy.inbox is not set, so no production batch may join training; set deploy.inbox to the "
                "folder production batches arrive in (e.g. deploy.monitor_batch's)")
    root, real = Path(inbox).resolve(), Path(batch).resolve()
    if not real.is_relative_to(root):
        return f"batch {batch} resolves to {real}, outside deploy.inbox {root}; only batches in that folder may join"
    if not real.exists():
        return f"batch {batch} does not exist in deploy.inbox {root}"
    if real.is_dir():
        for f in sorted(real.rglob("*")):
            if not f.resolve().is_relative_to(root):
                return f"batch folder {batch} holds {f.relative_to(real)}, a link outside deploy.inbox {root}"
    return None


def batch_digest(path: Path) -> str:
    """SHA-256 of a file's bytes; of a folder, over each file's relative name and digest, in name order."""
    def file_digest(p: Path) -> str:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    if path.is_file():
        return file_digest(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_digest(f)}\n".encode())
    return h.hexdigest()


def inbox_data(data: DataConfig, inbox: str | None, batch: str) -> DataConfig:
    """``data`` reading ``batch`` by its real path, if it may join training (``inbox``: ``deploy.inbox``); else
    BatchOutsideInbox (the training flow's own check, for any caller besides the retrain flow)."""
    if why := inbox_violation(batch, inbox):
        raise BatchOutsideInbox(why)
    return data.model_copy(update={"source": str(Path(batch).resolve())})


def admit_batch(reg: RegistryScope, inbox: str | None, batch: str | None) -> AdmittedBatch | None:
    """The batch a retrain may train on, with its digest (audited); None for no batch; BatchOutsideInbox
    (audited, before anything of it is read) for a batch outside ``inbox`` (``deploy.inbox``)."""
    from tasks.audit import audit
    from tasks.runtime import current_flow_run_id

    if batch is None:
        return None
    if why := inbox_violation(batch, inbox):
        audit(reg, action=REFUSED, batch=batch, why=why, flow_run=current_flow_run_id())
        raise BatchOutsideInbox(why)
    real = Path(batch).resolve()
    admitted = AdmittedBatch(path=str(real), sha256=batch_digest(real))
    audit(reg, action=ADMITTED, batch=admitted.path, sha256=admitted.sha256, flow_run=current_flow_run_id())
    return admitted
