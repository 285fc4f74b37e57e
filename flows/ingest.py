"""The ingest flow: load → quality gate → scrub (``tunegate validate``)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.ingest.quality import QualityReport
from tasks.ingest.task import RAW_COPY_HOOKS, discard_raw_copy, ensure_sample_data, ingest_documents, quality_gate
from tasks.pii.columns import ScrubColumns, label_is_free_text
from tasks.pii.task import scrub_pii
from tasks.refs import DatasetRef, new_run_id


class IngestResult(BaseModel):
    """What the flow leaves behind: references and counts only, never document text."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    run_dir: str
    dataset: DatasetRef
    quality: QualityReport
    scrubbed: DatasetRef | None = None
    pii: dict | None = None  # PiiEvidence as a dict (counts and rates)

    def lines(self) -> list[str]:
        """``tunegate validate``'s summary."""
        q, out = self.quality, [f"run {self.run_id}: {self.dataset.rows} documents, sha256 {self.dataset.sha256[:12]}"]
        out.append(f"quality gate passed: {len(q.checks)} expectations; Data Docs {q.data_docs}")
        out.append("labels: " + (", ".join(f"{k}={v}" for k, v in self.dataset.label_counts.items())
                                 if not self.dataset.label_is_text else "free text (causal LM targets), not listed"))
        if self.scrubbed is not None and self.pii is not None:
            out.append(f"PII scrubbed: {self.pii.get('docs_touched')} of {self.pii.get('docs')} documents touched, "
                       f"residual rate {self.pii.get('residual_rate')}; {self.scrubbed.uri}")
        else:
            out.append("PII scrub skipped (--no-scrub or pii.enabled: false)")
        return out


@flow(name="ingest", **RAW_COPY_HOOKS)
def ingest(config: PipelineConfig, run_id: str | None = None) -> IngestResult:
    """Ingest documents behind the quality gate, then scrub PII.

    1. generate the sample corpus if the source is missing and ``data.sample`` is set
    2. read the source into ``runs/<run_id>/dataset.parquet``
    3. run the Great Expectations gate (raises QualityGateFailed)
    4. scrub PII into ``scrubbed.parquet`` (raises PiiGateFailed), unless ``pii.enabled`` is false
    """
    run_id = run_id or new_run_id("ingest")
    run_dir = config.work_path("runs", run_id)
    ensure_sample_data(config.data)
    columns = ScrubColumns.of(config.train, config.data)
    dataset = ingest_documents(config.data, run_dir, label_is_free_text(config.train, config.quality))
    report = quality_gate(dataset, config.quality, run_dir)
    scrubbed, evidence = None, None
    if config.pii.enabled:
        gold = Path(f"{config.data.source}.pii.jsonl")
        scrubbed, evidence = scrub_pii(dataset, config.pii, run_dir, gold=gold if gold.is_file() else None,
                                       columns=columns)
        discard_raw_copy(run_dir, config.retention)
    return IngestResult(run_id=run_id, run_dir=str(run_dir), dataset=dataset, quality=report, scrubbed=scrubbed,
                        pii=evidence.model_dump(mode="json") if evidence is not None else None)
