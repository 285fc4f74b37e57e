"""``tunegate subject erase``: a person's documents out of every store, and a retrain without them.

1. Read and hash the values (bad input is a named error before anything is touched); take the retrain
   lock (a running retrain: ``ErasureError``, nothing changed); finish any erasure a crash interrupted.
2. Find the subject (``find_subject``). Found nowhere: say so, change nothing. Already erased: say so.
3. Write the plan to a journal (``<work_dir>/erasures/<request>.json``: ids, counts and the keyed hashes,
   no value), then add the subject's hashes to the erasure list, so that from here on no training run can use
   their documents, even those still in the source system.
4. Serving first: every alias leaves the versions trained on them; ``champion`` moves to the newest approved
   version trained without them, or there is none and predict says why (``tasks.registry.withdraw``). While
   the rows still exist, the champion that now serves is tested on them for membership (numbers only,
   ``tasks.subjects.successor``): does it know the erased documents?
5. Rewrite every run folder holding them (datasets, split parts, subject index, spans, kept raw copies,
   a version's layout) and their prediction-store rows, each folder all-or-nothing; rewrite each affected
   version's reference sample and tag it ``erasure_pending`` (``tasks.registry.erasure``). Delete every other
   copy of a model trained on them: resume checkpoints, soft-deleted and unregistered MLflow runs' artifacts,
   run folders' model copies, caches, stale ``.tmp-*`` leftovers; search each store again
   (``tasks.subjects.stores``): the erasure is *complete* only when none holds them.
6. Mark the journal done with the rewritten datasets' new digests, when the champion was withdrawn and what
   each store still holds, audit the request with counts, write the signed erasure certificate
   (``tasks/subjects/certificate.py``, its digest audited), and emit ``tunegate.subject.erased``: the retrain
   deployment's trigger retrains without them, and promoting that version archives the pending ones
   (``tunegate purge`` archives them after ``retention.pending_versions_days`` if none is promoted).

A crash between 3 and 6 leaves the journal ``planned``; the next ``subject erase`` completes it first
(every step is idempotent). Erasing the same person twice changes nothing the second time: it searches
every store again and says whether the erasure is complete yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tasks.audit import audit
from tasks.config import PiiConfig, RegistryScope
from tasks.datasets import parquet_sha256
from tasks.errors import ErasureError, RetrainBusy
from tasks.locks import retrain_lock, shared_path
from tasks.pii.ops import pseudonym_key
from tasks.pii.subjects import read_values, subject_hashes
from tasks.refs import DatasetRef, atomic_file
from tasks.registry.signing import sha256_hex
from tasks.subjects.certificate import certificate_of, write_certificate
from tasks.subjects.erased import ERASURES, add_erased, read_erased, rewrite_without
from tasks.subjects.find import find_subject

ERASED_EVENT = "tunegate.subject.erased"


@dataclass
class ErasureReport:
    """What one request did: ids and counts, never a value."""

    request: str | None
    outcome: str  # erased | not_found | already_erased
    documents: int = 0
    files: dict[str, int] = field(default_factory=dict)  # file -> rows removed
    versions: dict[int, int] = field(default_factory=dict)  # version -> reference rows removed
    resumed: list[str] = field(default_factory=list)  # interrupted requests completed first
    retrain: str = ""  # how the retrain was requested
    champion: dict = field(default_factory=dict)  # previous, now, withdrawn_at, aliases (tasks.registry.withdraw)
    stores: dict[str, list[str]] = field(default_factory=dict)  # store searched -> what still holds the subject
    certificate: str = ""  # the signed erasure certificate's path (tasks/subjects/certificate.py)
    successor: dict = field(default_factory=dict)  # the serving champion on the erased rows (subjects/successor.py)

    @property
    def complete(self) -> bool:
        """No servable or restorable artifact holds the subject any more."""
        return not any(self.stores.values())

    def raise_if_incomplete(self) -> None:
        from tasks.errors import ErasureIncomplete

        if not self.complete:
            left = sum(len(v) for v in self.stores.values())
            raise ErasureIncomplete(f"{self.request}: {left} artifact(s) still hold the subject (listed above); "
                                    "see what removes each, then run `tunegate subject erase` again to check.")

    def _store_lines(self) -> list[str]:
        c, out = self.champion, []
        if c.get("previous") is not None:
            now = (f"now v{c['now']} (the newest approved version trained without them)" if c.get("now") is not None
                   else "now none: predict and monitor stop with ChampionWithdrawn until a version trained without "
                        "them is approved")
            out.append(f"  champion v{c['previous']} withdrawn at {c['withdrawn_at']}; {now}")
        elif c.get("aliases"):
            out.append(f"  aliases {', '.join(c['aliases'])} withdrawn at {c['withdrawn_at']}")
        if self.successor.get("measured"):
            s = self.successor
            out.append(f"  champion v{s['version']} on the {s['erased_rows']} erased row(s): membership AUC {s['auc']} "
                       f"(95 % {s['auc_95'][0]}-{s['auc_95'][1]}; 0.5: like documents it never saw)")
        for store, left in self.stores.items():
            out.append(f"  searched {store}: " + (f"{len(left)} left: {', '.join(left)}" if left else "nothing left"))
        if not self.stores:
            return out
        if self.complete:
            return out + [f"{self.request}: complete: no servable or restorable artifact holds the subject"]
        return out + [f"{self.request}: INCOMPLETE: {sum(map(len, self.stores.values()))} artifact(s) still hold the "
                      "subject. A version pending erasure is archived when a version trained without them becomes "
                      "champion, or by `tunegate purge` after retention.pending_versions_days; a checkpoint in use "
                      "or a write in progress goes when it ends (`tunegate purge`)."]

    def lines(self, model_name: str) -> list[str]:
        out = [f"completed interrupted erasure {r}" for r in self.resumed]
        if self.outcome == "not_found":
            return out + ["subject: in no stored dataset, model version or prediction row; nothing was changed"]
        if self.outcome == "already_erased":
            return out + [f"subject: already erased ({self.request}); nothing was changed"] + self._store_lines()
        out.append(f"{self.request}: removed {self.documents} document(s): "
                   f"{sum(self.files.values())} row(s) in {len(self.files)} file(s)")
        out += [f"  {name}: {n} row(s)" for name, n in sorted(self.files.items())]
        out += [f"  model {model_name} v{v}: erasure pending; {n} reference row(s) removed"
                for v, n in self.versions.items()]
        cert = [f"  certificate: {self.certificate} (check: tunegate subject certificate verify FILE)"]
        return out + [f"  retrain: {self.retrain}"] + self._store_lines() + (cert if self.certificate else [])


def _journal(work: Path, request: str) -> Path:
    return work / ERASURES / f"{request}.json"


def _write(path: Path, plan: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(plan, indent=2, sort_keys=True))


def _apply(reg: RegistryScope, plan: dict) -> dict:
    """Carry out a journal's plan (idempotent); returns rows removed per file and per version."""
    from tasks.registry.erasure import mark_pending
    from tasks.registry.versions import champion_version
    from tasks.registry.withdraw import withdraw
    from tasks.subjects.stores import Scope, erase_stores
    from tasks.subjects.successor import successor_test

    # first, serving: no version trained on the subject keeps an alias (champion moves or goes)
    champion = withdraw(reg, plan["request"], {int(v) for v in plan["versions"]}) or plan.get("champion", {})
    # then, while the rows still exist, does the champion that now serves know them? (numbers only)
    successor = successor_test(reg, champion_version(reg), plan["folders"])
    files: dict[str, int] = {}
    for folder, ids in plan["folders"].items():
        for name, n in rewrite_without(Path(folder), set(ids)).items():
            files[f"{Path(folder).name}/{name}"] = n
    for part, ids in plan["store"].items():
        for name, n in rewrite_without(Path(part).parent, set(ids), files=[Path(part)]).items():
            files[f"predictions/{Path(part).parent.name}/{name}"] = n
    versions = {int(v): mark_pending(reg, int(v), plan["request"], set(ids)) for v, ids in plan["versions"].items()}
    digests = {f"{Path(folder).name}/scrubbed.parquet": parquet_sha256(Path(folder) / "scrubbed.parquet")
               for folder in plan["folders"] if (Path(folder) / "scrubbed.parquet").is_file()}
    stores = erase_stores(reg, Scope.of(plan))
    return {"files": files, "versions": versions, "digests_after": digests, "champion": champion,
            "successor": successor, "stores": stores, "complete": not any(stores.values()),
            "checked_at": datetime.now(UTC).isoformat(timespec="seconds")}


def resume(reg: RegistryScope, key: bytes) -> list[str]:
    """Complete every erasure a crash left ``planned``; returns their request ids."""
    done = []
    for path in sorted(reg.work_path(ERASURES).glob("erasure-*.json")):
        plan = json.loads(path.read_text())
        if plan["status"] != "done":
            add_erased(shared_path(reg), plan["request"], {(e, h) for e, h in plan["hashes"]}, key)
            plan.update(_apply(reg, plan), status="done")
            _write(path, plan)
            audit(reg, action="erasure.resumed", request=plan["request"], files=len(plan["files"]))
            done.append(plan["request"])
    return done


def _plan(reg: RegistryScope, report, request: str, reason: str, hashes: set[tuple[str, str]]) -> dict:
    """Folders, store files and versions to rewrite, with the ids each must lose, and the subject's hashes."""
    from tasks.registry.lineage import version_runs

    folders: dict[str, set[str]] = {}
    for hit, _ in report.datasets:
        folders.setdefault(str(hit.run_dir), set()).update(hit.ids)
    ids_of = {digest: {i for h, d in report.datasets if d == digest for i in h.ids} for _, digest in report.datasets}
    versions: dict[str, set[str]] = {}
    for version, (run_id, digest) in version_runs(reg, set(ids_of) - {None}).items():
        versions[str(version)] = ids_of[digest]
        run_dir = reg.work_path("runs", run_id)
        if run_dir.is_dir():  # the run that trained it holds a copy of the training split and reference
            folders.setdefault(str(run_dir.resolve()), set()).update(ids_of[digest])
    store = {str(part): sorted(ids) for part, ids in report.store_parts.items()}
    return {"request": request, "reason": reason, "status": "planned",
            "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "folders": {f: sorted(i) for f, i in sorted(folders.items())}, "store": store,
            "versions": {v: sorted(i) for v, i in versions.items()},
            "datasets": sorted({d for _, d in report.datasets if d}), "hashes": sorted(hashes)}


def erase_subject(reg: RegistryScope, pii: PiiConfig, value_file: Path, reason: str, known_types: set[str]
                  ) -> ErasureReport:
    """Erase one subject from every store; see the module docstring for the steps."""
    if not reason.strip():
        raise ErasureError("an erasure needs --reason (e.g. the ticket of the data subject's request); "
                           "nothing was changed.")
    values = read_values(Path(value_file), known_types)
    key = pseudonym_key(pii.model_copy(update={"subject_index": True}), reg.work_path(), index=True)
    hashes = subject_hashes(values, key)
    try:
        lock = retrain_lock(reg)  # on the Prefect server too where one is configured (tasks/locks.py)
    except RetrainBusy:
        raise ErasureError("a retrain of this model is running; erase when it has finished (nothing was "
                           "changed), so that it cannot register a model trained on the subject.") from None
    with lock:
        resumed = resume(reg, key)
        report = find_subject(reg, pii, Path(value_file), known_types)
        if not report.datasets:
            already = report.erased_by
            outcome = "already_erased" if already else "not_found"
            stores = _recheck(reg, already)
            audit(reg, action="erasure.request", request=already, outcome=outcome, reason=reason,
                  identifiers=len(hashes), **({"remaining": {k: len(v) for k, v in stores.items()}} if stores else {}))
            return ErasureReport(request=already, outcome=outcome, resumed=resumed, stores=stores)
        request = f"erasure-{len(read_erased(shared_path(reg), key).requests) + 1}"
        plan = _plan(reg, report, request, reason, hashes)
        path = _journal(reg.work_path(), request)
        _write(path, plan)
        add_erased(shared_path(reg), request, hashes, key)
        plan.update(_apply(reg, plan), status="done")
        _write(path, plan)
        audit(reg, action="erasure.request", request=request, outcome="erased", reason=reason,
              identifiers=len(hashes), documents=report.documents, datasets=len(plan["folders"]),
              rows_removed=sum(plan["files"].values()), versions_pending=sorted(int(v) for v in plan["versions"]),
              champion_withdrawn_at=plan["champion"].get("withdrawn_at"), complete=plan["complete"],
              remaining={k: len(v) for k, v in plan["stores"].items()})
    out = ErasureReport(request=request, outcome="erased", documents=report.documents, files=plan["files"],
                        versions=plan["versions"], resumed=resumed, champion=plan["champion"], stores=plan["stores"],
                        successor=plan["successor"])
    body = certificate_of(out, reg.model_name, reason, datetime.fromisoformat(plan["requested_at"]), datetime.now(UTC))
    out.certificate = str(write_certificate(reg, body))  # signed, counts only; audited below by its digest
    audit(reg, action="erasure.certificate", request=request, sha256=sha256_hex(Path(out.certificate).read_bytes()))
    out.retrain = request_retrain(reg.model_name, request, sorted(int(v) for v in plan["versions"]))
    return out


def _recheck(reg: RegistryScope, request: str | None) -> dict[str, list[str]]:
    """What still holds a subject an earlier request erased (searched, nothing deleted)."""
    from tasks.subjects.stores import Scope, scan

    path = _journal(reg.work_path(), request) if request else None
    return scan(reg, Scope.of(json.loads(path.read_text()))) if path and path.is_file() else {}


def request_retrain(model_name: str, request: str, versions: list[int]) -> str:
    """Emit the erasure event (the retrain deployment's trigger); say what happened, never raise."""
    from tasks.errors import EventNotDelivered
    from tasks.monitor.events import api_target, emit_verified, model_resource

    if not versions:
        return "not needed: no model version was trained on these documents"
    if api_target().startswith("ephemeral"):
        return ("not requested: no Prefect server is set (PREFECT_API_URL), so no deployment would hear it; run "
                "`tunegate run CONFIG` (promoting its version archives the old ones)")
    try:
        sent = emit_verified(ERASED_EVENT, model_resource(model_name), {"request": request, "versions": versions})
    except EventNotDelivered as e:
        return f"not requested ({e}); start the retrain deployment with reason 'erasure' or run `tunegate run`"
    return f"requested: event {sent.id} to {sent.target}"


def erasure_tags(work: Path, dataset: DatasetRef) -> dict[str, str]:
    """Tags for a version trained on ``dataset``: the requests it was filtered against, and the newest request
    that erased some of its documents after that (a request made while it trained)."""
    tags = {"erasures_applied": str(dataset.erasures)}
    later = []
    for path in sorted((work / ERASURES).glob("erasure-*.json")):
        plan = json.loads(path.read_text())
        n = int(plan["request"].rsplit("-", 1)[1])
        if n > dataset.erasures and dataset.sha256 in plan.get("datasets", []):
            later.append(n)
    if later:
        tags["erasure_pending"] = f"erasure-{max(later)}"
    return tags
