"""``tunegate subject find``: which documents, datasets, model versions and prediction rows hold a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tasks.config import PiiConfig, RegistryScope
from tasks.datasets import parquet_sha256
from tasks.locks import shared_path
from tasks.pii.ops import pseudonym_key
from tasks.pii.subjects import IndexHit, find_in_indexes, read_values, subject_hashes
from tasks.registry.lineage import pending_versions, reference_rows, version_runs
from tasks.retention import run_dirs
from tasks.subjects.erased import read_erased


@dataclass
class SubjectReport:
    """Where a subject's identifiers are: ids and counts, never a value."""

    identifiers: int
    datasets: list[tuple[IndexHit, str | None]] = field(default_factory=list)  # hit, dataset digest
    versions: dict[int, tuple[int, list[str]]] = field(default_factory=dict)  # version -> (docs, reference ids)
    store_rows: dict[str, int] = field(default_factory=dict)  # prediction-store file -> rows
    store_parts: dict[Path, list[str]] = field(default_factory=dict)  # prediction-store file -> ids
    erased_by: str | None = None  # the erasure request that already covers every identifier
    pending: list[int] = field(default_factory=list)  # versions that request has not yet seen archived

    @property
    def documents(self) -> int:
        return sum(len(h.ids) for h, _ in self.datasets)

    def lines(self, model_name: str) -> list[str]:
        out = [f"subject: {self.identifiers} identifier(s); found in {self.documents} document(s) of "
               f"{len(self.datasets)} dataset(s)"]
        for h, digest in self.datasets:
            kinds = ", ".join(f"{e} {n}" for e, n in h.matched.items())
            out.append(f"  dataset {h.run_dir.name} (sha256 {(digest or 'deleted')[:12]}): {len(h.ids)} "
                       f"document(s) [{kinds}]: ids {', '.join(h.ids)}")
        for version, (docs, ref) in self.versions.items():
            out.append(f"  model {model_name} v{version}: trained on {docs} of them; reference sample holds "
                       f"{len(ref)}" + (f" (ids {', '.join(ref)})" if ref else ""))
        out += [f"  prediction store {name}: {rows} row(s)" for name, rows in self.store_rows.items()]
        if not self.datasets:
            out.append("  no stored dataset, model version or prediction row holds these identifiers")
        if self.erased_by:
            out.append(f"  erased by {self.erased_by}; model versions trained on them and not yet archived: "
                       + (", ".join(f"v{v}" for v in self.pending) or "none"))
        return out


def find_subject(reg: RegistryScope, pii: PiiConfig, value_file: Path, known_types: set[str]) -> SubjectReport:
    """Hash the file's values with the pipeline's key and follow them through indexes, registry and store."""
    values = read_values(Path(value_file), known_types)
    key = pseudonym_key(pii.model_copy(update={"subject_index": True}), reg.work_path(), index=True)
    hashes = subject_hashes(values, key)
    hits = find_in_indexes(run_dirs(reg.work_path()), hashes, key)
    report = SubjectReport(identifiers=len(values))
    erased = read_erased(shared_path(reg), key)
    report.erased_by = next((r for r in erased.requests if hashes <= erased.of(r)), None)
    if report.erased_by:
        report.pending = pending_versions(reg, report.erased_by)
    for h in hits:
        scrubbed = h.run_dir / "scrubbed.parquet"
        report.datasets.append((h, parquet_sha256(scrubbed) if scrubbed.is_file() else None))
    digests = {d for _, d in report.datasets if d}
    for version, (_, digest) in version_runs(reg, digests).items():
        ids = {i for h, d in report.datasets if d == digest for i in h.ids}
        report.versions[version] = (len(ids), reference_rows(reg, version, ids))
    for h in hits:
        for part in sorted(reg.work_path("predictions").glob(f"date=*/{h.run_dir.name}.parquet")):
            ids = pd.read_parquet(part, columns=["id"])["id"].astype(str)
            held = sorted(set(ids[ids.isin(h.ids)]))
            if held:
                report.store_rows[f"{part.parent.name}/{part.name}"] = int(ids.isin(h.ids).sum())
                report.store_parts[part] = held
    return report
