"""The data quality gate: a Great Expectations 1.x suite built from ``QualityConfig``.

The gate runs before scrubbing, so no raw value may reach its results. GE validates a per-document
profile computed in Arrow (lengths, blank flags, keys numbering distinct ids and texts, label,
timestamp): it never holds the text. It runs with a SUMMARY result format without partial unexpected
values, and only counts are copied out. Per-class minimums are a second suite over label counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from tasks.config import QualityConfig

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False,
                 "return_unexpected_index_query": False}
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
WHAT = {  # (expectation, column) -> what it means, for people reading the error and the artifact
    ("expect_table_row_count_to_be_between", None): "minimum number of documents",
    ("expect_column_values_to_be_unique", "id_key"): "ids are unique",
    ("expect_column_values_to_not_be_null", "id_key"): "every document has an id",
    ("expect_column_values_to_not_be_null", "text_length"): "every document has text",
    ("expect_column_values_to_be_in_set", "text_blank"): "text is not blank",
    ("expect_column_values_to_be_between", "text_length"): "text length within bounds",
    ("expect_column_proportion_of_unique_values_to_be_between", "text_key"):
        "share of duplicate texts at most the limit",
    ("expect_column_values_to_be_in_set", "label"): "label in the allowed set",
    ("expect_column_values_to_be_between", "timestamp"): "timestamp between 1990 and now",
    ("expect_column_values_to_be_between", "count"): "minimum examples per class (rows = classes)",
    ("expect_column_to_exist", None): "required column present",
    ("expect_column_values_to_not_be_null", None): "no missing values",
}


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    expectation: str
    column: str | None = None
    what: str = ""
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: float | None = None  # aggregate expectations only (a share, a count); never a data value


class QualityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    rows: int
    checks: list[CheckResult]
    data_docs: str | None = None  # index.html of the run's Data Docs

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    def failure_message(self) -> str:
        parts = []
        for c in self.failures():
            counts = (f"{c.unexpected_count} of {c.element_count} rows" if c.unexpected_count is not None
                      else f"observed {c.observed:g}" if c.observed is not None else "failed")
            parts.append(f"{c.expectation}({c.column or 'table'}) [{c.what}]: {counts}")
        return (f"{len(parts)} of {len(self.checks)} expectations failed on {self.rows} rows: " + "; ".join(parts)
                + ". Fix the source data or relax the quality: section of the config.")

    def summary(self) -> str:
        """Markdown for the Prefect artifact: one row per expectation, counts only."""
        lines = [f"## Quality gate: {'passed' if self.passed else 'FAILED'} ({self.rows} rows)", "",
                 "| check | expectation | column | result | unexpected | of | observed |",
                 "|---|---|---|---|---|---|---|"]
        for c in self.checks:
            lines.append(f"| {c.what} | {c.expectation} | {c.column or ''} | {'pass' if c.success else 'FAIL'} | "
                         f"{'' if c.unexpected_count is None else c.unexpected_count} | "
                         f"{'' if c.element_count is None else c.element_count} | "
                         f"{'' if c.observed is None else f'{c.observed:.4g}'} |")
        if self.data_docs:
            lines += ["", f"Data Docs: `{self.data_docs}`"]
        return "\n".join(lines)


def document_profile(table: pa.Table) -> pd.DataFrame:
    """One row per document, computed in Arrow: what the gate checks, without the text or the ids themselves.

    ``id_key``/``text_key`` number the distinct ids/texts (equal values share a key, nulls stay null), so
    uniqueness and the duplicate share are exact; ``text_length`` counts characters; ``text_blank`` marks
    whitespace-only text. GE therefore never holds document text, and Arrow does the string work.
    """
    names = table.column_names
    cols: dict[str, pa.Array] = {}
    if "id" in names:
        cols["id_key"] = pc.dictionary_encode(table.column("id").combine_chunks()).indices
    if "text" in names:
        text = table.column("text").combine_chunks()
        cols["text_length"] = pc.utf8_length(text)
        cols["text_blank"] = pc.fill_null(pc.match_substring_regex(text, r"^\s*$"), False)
        cols["text_key"] = pc.dictionary_encode(text).indices
    for c in ("label", "timestamp"):
        if c in names:
            cols[c] = table.column(c).combine_chunks()
    return pa.table(cols).to_pandas()


def build_expectations(*, min_rows: int, min_text_chars: int, max_text_chars: int, labels: list[str],
                       require_labels: bool, max_duplicate_text_share: float, require_timestamp: bool) -> list:
    """Expectations over the document profile (one row per document)."""
    import great_expectations.expectations as gxe

    exp = [gxe.ExpectColumnToExist(column=c) for c in ("id_key", "text_length", "label", "timestamp")]
    exp += [gxe.ExpectTableRowCountToBeBetween(min_value=min_rows),
            gxe.ExpectColumnValuesToNotBeNull(column="id_key"), gxe.ExpectColumnValuesToBeUnique(column="id_key"),
            gxe.ExpectColumnValuesToNotBeNull(column="text_length"),
            gxe.ExpectColumnValuesToBeInSet(column="text_blank", value_set=[False]),
            gxe.ExpectColumnValuesToBeBetween(column="text_length", min_value=min_text_chars, max_value=max_text_chars),
            # share of duplicate texts = 1 - distinct/non-null
            gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column="text_key",
                                                                min_value=1 - max_duplicate_text_share)]
    if require_labels:
        exp.append(gxe.ExpectColumnValuesToNotBeNull(column="label"))
    if labels:
        exp.append(gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(labels)))
    if require_timestamp:
        exp.append(gxe.ExpectColumnValuesToNotBeNull(column="timestamp"))
    exp.append(gxe.ExpectColumnValuesToBeBetween(column="timestamp", min_value=EARLIEST,
                                                 max_value=datetime.now(UTC) + timedelta(days=1)))
    return exp


def label_count_frame(labels: pd.Series, allowed: list[str]) -> pd.DataFrame:
    """One row per class (allowed classes with no rows count 0): the frame the per-class minimum checks."""
    counts = labels.dropna().value_counts()
    counts = counts.reindex(sorted(set(counts.index) | set(allowed)), fill_value=0)
    return pd.DataFrame({"label": counts.index.astype(str), "count": counts.to_numpy(dtype="int64")})


def _check(r) -> CheckResult:
    """Copy counts out of a GE result; anything value-bearing stays behind."""
    cfg, res = r.expectation_config, r.result or {}
    observed = res.get("observed_value")
    column = cfg.kwargs.get("column")
    what = WHAT.get((cfg.type, column)) or WHAT.get((cfg.type, None), "")
    return CheckResult(
        expectation=cfg.type, column=column, what=what, success=bool(r.success),
        unexpected_count=res.get("unexpected_count"), element_count=res.get("element_count"),
        observed=float(observed) if isinstance(observed, (int, float)) and not isinstance(observed, bool) else None)


def _scrub_result(r) -> None:
    """Belt and braces: blank every field of a GE result that can carry data values, before docs render it."""
    res = r.result or {}
    for key in list(res):
        if key not in ("element_count", "unexpected_count", "unexpected_percent", "missing_count",
                       "missing_percent", "unexpected_percent_total", "unexpected_percent_nonmissing"):
            if key == "observed_value" and isinstance(res[key], (int, float)):
                continue
            res.pop(key)
    if r.exception_info:
        r.exception_info = {"raised_exception": bool(r.exception_info.get("raised_exception")),
                            "exception_message": None, "exception_traceback": None}


def validate_frame(df: pd.DataFrame, **kw) -> QualityReport:
    """``validate_table`` for a pandas frame with the canonical columns."""
    return validate_table(pa.Table.from_pandas(df, preserve_index=False), **kw)


def validate_table(table: pa.Table, *, min_rows: int, min_text_chars: int, max_text_chars: int, labels: list[str],
                   require_labels: bool, min_per_class: int, max_duplicate_text_share: float,
                   require_timestamp: bool, docs_dir: Path | None = None) -> QualityReport:
    """Run the suite over the table's document profile in an ephemeral GE context; Data Docs into ``docs_dir``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # No default temporary docs site: Data Docs go only where the run asks for them.
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas("tunegate")
    df = document_profile(table)
    frames = {"documents": df}
    suites = {"documents": build_expectations(
        min_rows=min_rows, min_text_chars=min_text_chars, max_text_chars=max_text_chars, labels=labels,
        require_labels=require_labels, max_duplicate_text_share=max_duplicate_text_share,
        require_timestamp=require_timestamp)}
    # an unlabelled batch (labels not required, none present) has no classes to count
    if min_per_class and "label" in df.columns and (require_labels or df["label"].notna().any()):
        frames["label_counts"] = label_count_frame(df["label"], labels)
        suites["label_counts"] = [gxe.ExpectColumnValuesToBeBetween(column="count", min_value=min_per_class)]
    checks = []
    for name, expectations in suites.items():
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"tunegate_{name}", expectations=expectations))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        result = vd.run(batch_parameters={"dataframe": frames[name]}, result_format=RESULT_FORMAT)
        for r in result.results:
            _scrub_result(r)
            checks.append(_check(r))
        if docs_dir is not None:
            _store_for_docs(ctx, vd, result)
    index = _build_docs(ctx, docs_dir) if docs_dir is not None else None
    return QualityReport(passed=all(c.success for c in checks), rows=len(df), checks=checks, data_docs=index)


def validate_parquet(path: str | Path, **kw) -> QualityReport:
    """``validate_table`` over the canonical columns of a Parquet dataset."""
    names = pq.read_schema(path).names
    return validate_table(pq.read_table(path, columns=[c for c in ("id", "text", "label", "timestamp") if c in names]),
                          **kw)


def _store_for_docs(ctx, vd, result) -> None:
    """Overwrite the result GE stored during ``run`` with the scrubbed one, so Data Docs render that."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    batch_id = next((r.expectation_config.kwargs.get("batch_id") for r in result.results), None) or vd.name
    key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=vd.suite.name),
                                     run_id=result.meta["run_id"], batch_identifier=str(batch_id))
    ctx.validation_results_store.set(key, result)


def _build_docs(ctx, docs_dir: Path) -> str:
    site = {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)}}
    ctx.add_data_docs_site(site_name="tunegate", site_config=site)
    ctx.build_data_docs(site_names=["tunegate"])
    return str(Path(docs_dir) / "index.html")


def monitoring_gate(quality: QualityConfig, min_batch_rows: int) -> QualityConfig:
    """The training gate, relaxed for production batches: labels optional, no per-class minimum."""
    return quality.model_copy(update={"require_labels": False, "min_per_class": 0,
                                      "min_rows": min(quality.min_rows, min_batch_rows)})
