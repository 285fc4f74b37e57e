"""``tunegate scrub`` and ``tunegate pii-eval``, and a one-step scrub flow.

The CLI scrubs a file without a Prefect server (it is a file-to-file tool); the pipeline runs the
``scrub_pii`` task inside the ``ingest`` flow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefect import flow

from tasks.config import PiiConfig, load_config
from tasks.pii import scrub_pii
from tasks.pii_eval import PiiEvidence, format_table, read_jsonl_by_id, score, spans_from_file
from tasks.pii_ops import needs_key, resolve_pseudonym_key
from tasks.pii_stream import scrub_file
from tasks.refs import DatasetRef


@flow(name="scrub")
def scrub(dataset: DatasetRef, pii: PiiConfig, run_dir: str, gold: str | None = None) -> PiiEvidence:
    """Scrub one canonical dataset: scrub → residual gate → evidence."""
    _, evidence = scrub_pii(dataset, pii, Path(run_dir), Path(gold) if gold else None)
    return evidence


def cli_scrub(args: argparse.Namespace) -> int:
    """Scrub --text-column of --input into --output (every row, in order) plus OUTPUT.spans.jsonl."""
    cfg = load_config(args.config) if args.config else None
    pii = cfg.pii if cfg else PiiConfig()
    work_dir = cfg.work_path() if cfg else Path(".tunegate")
    key = resolve_pseudonym_key(pii.pseudonym_key_env, pii.pseudonym_key_block, work_dir) \
        if needs_key(pii.operators) else None
    out = Path(args.output)
    stats = scrub_file(Path(args.input), out, args.text_column, pii, key, Path(f"{out}.spans.jsonl"))
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(stats.by_entity.items())) or "none"
    print(f"scrubbed {stats.docs} rows ({stats.docs_touched} touched) -> {out}; detected: {kinds}; "
          f"residual rate {stats.residual_rate:.4f}")
    return 0


def cli_pii_eval(args: argparse.Namespace) -> int:
    """Recall, precision and F2 per entity type of a scrub's spans against a ground-truth sidecar."""
    gold = read_jsonl_by_id(Path(args.gold), "ground-truth")
    scrubbed = Path(args.scrubbed)
    spans_path = scrubbed if scrubbed.name.endswith(".spans.jsonl") else Path(f"{scrubbed}.spans.jsonl")
    pred = spans_from_file(spans_path)
    if not set(gold) & set(pred):
        from tasks.errors import InputError

        raise InputError(f"{spans_path}: no document id in common with {args.gold}; "
                         "score the scrub of the file this sidecar describes.")
    metrics, lost = score(gold, pred)
    print(format_table(metrics, lost))
    return 0


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["scrub", *sys.argv[1:]]))
