"""The ``tunegate`` command: argument parsing, error reporting and the file-to-file scrub handlers.

Each other sub-command's handler lives beside the flow it runs (``flows/*.py``, ``deployments/stack.py``).
``scrub`` and ``pii-eval`` live here so that scrubbing a file imports neither Prefect nor torch. Every
handler returns an exit code; named tunegate errors print one line, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# command -> (module, handler, help)
COMMANDS = {
    "sample-data": ("flows.ingest", "cli_sample_data", "write a synthetic insurance-claims corpus with PII ground truth"),
    "validate": ("flows.ingest", "cli_validate", "ingest the config's data and run the quality gate (and PII scrub)"),
    "scrub": ("flows.cli", "cli_scrub", "scrub PII from the text column of a CSV/JSONL/Parquet file"),
    "pii-eval": ("flows.cli", "cli_pii_eval", "recall/precision/F2 of a scrub against a ground-truth sidecar"),
    "run": ("flows.train", "cli_run", "the whole training pipeline: ingest → gate → scrub → train → evaluate → promote"),
    "predict": ("flows.predict", "cli_predict", "score a file with the champion (or a named version)"),
    "rollback": ("flows.train", "cli_rollback", "move the champion alias back to an earlier version"),
    "monitor": ("flows.monitor", "cli_monitor", "check a production batch for drift and emit the drift event"),
    "up": ("deployments.stack", "cli_up", "start a local Prefect server and serve the deployments"),
    "down": ("deployments.stack", "cli_down", "stop what `tunegate up` started"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tunegate",
        description=(
            "Fine-tune a small model on regulated documents, with the evidence a regulator asks for: "
            "a data quality gate, audited PII scrubbing, LoRA fine-tuning under torchrun, "
            "champion/challenger promotion in MLflow, and drift monitoring that triggers retraining."
        ),
        epilog="Run `tunegate COMMAND --help` for a command's options. Start with: tunegate run examples/claims.yaml",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=COMMANDS[name][2], description=COMMANDS[name][2])

    s = add("sample-data")
    s.add_argument("--out", required=True, help="output file (.jsonl, .csv or .parquet); sidecar PATH.pii.jsonl")
    s.add_argument("--rows", type=int, default=1200, help="number of documents (default 1200)")
    s.add_argument("--seed", type=int, default=7, help="random seed; same seed, same corpus (default 7)")
    s.add_argument("--drift", choices=["none", "mix", "product", "length"], default="none",
                   help="write a shifted batch for the drift monitor instead of the reference distribution")

    s = add("validate")
    s.add_argument("config", help="pipeline YAML, e.g. examples/claims.yaml")
    s.add_argument("--no-scrub", action="store_true", help="stop after the quality gate")

    s = add("scrub")
    s.add_argument("--input", required=True, help="CSV, JSONL or Parquet file")
    s.add_argument("--output", required=True, help="output file (same formats); every row, in order")
    s.add_argument("--text-column", default="text", help="column to scrub (default: text)")
    s.add_argument("--config", help="pipeline YAML whose pii: section to use (default: built-in defaults)")

    s = add("pii-eval")
    s.add_argument("--gold", required=True, help="ground-truth sidecar (PATH.pii.jsonl from sample-data)")
    s.add_argument("--scrubbed", required=True, help="output of `tunegate scrub` (its .spans.jsonl sits beside it)")

    s = add("run")
    s.add_argument("config", help="pipeline YAML, e.g. examples/claims.yaml")

    s = add("predict")
    s.add_argument("--config", required=True, help="pipeline YAML (registry, PII settings)")
    s.add_argument("--input", required=True, help="CSV, JSONL or Parquet file of documents")
    s.add_argument("--output", required=True, help="predictions file (.csv, .jsonl or .parquet)")
    s.add_argument("--model-version", default="champion", help="a version number or 'champion' (default)")

    s = add("rollback")
    s.add_argument("--config", required=True, help="pipeline YAML (registry)")
    s.add_argument("--to-version", required=True, type=int, help="version that becomes champion again")
    s.add_argument("--reason", default="manual rollback", help="why, for the audit log")

    s = add("monitor")
    s.add_argument("--config", required=True, help="pipeline YAML")
    s.add_argument("--batch", required=True, help="file or folder of new production documents")

    s = add("up")
    s.add_argument("--config", default="examples/claims.yaml", help="pipeline YAML the deployments run")
    s.add_argument("--port", type=int, default=None, help="Prefect server port (default: deploy.port, 4200)")
    s.add_argument("--foreground", action="store_true", help="serve in this terminal until Ctrl-C")

    s = add("down")
    s.add_argument("--config", default="examples/claims.yaml", help="pipeline YAML whose stack to stop")
    return p


class _NoTracebackForNamedErrors(logging.Filter):
    """Prefect logs a failed run's exception with its traceback; for tunegate's named errors one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tasks.errors import TunegateError

        if record.exc_info and isinstance(record.exc_info[1], TunegateError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_named_errors() -> None:
    """Attach the filter to every handler of Prefect's loggers (main() prints the error itself)."""
    names = ["prefect"] + [n for n in logging.Logger.manager.loggerDict if n.startswith("prefect.")]
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _NoTracebackForNamedErrors) for f in handler.filters):
                handler.addFilter(_NoTracebackForNamedErrors())


# File-to-file commands that never train or serve a model.
NO_TORCH = {"scrub", "pii-eval", "sample-data"}


def _without_torch() -> None:
    """Presidio imports transformers and torch when they are installed (~5 s, more than scrubbing a few thousand
    documents takes); the scrubbing path never uses them. Only for a process started as `tunegate`, where
    nothing else will want them; a caller that passes argv (tests, scripts) keeps its imports as they are."""
    for name in ("transformers", "torch"):
        sys.modules.setdefault(name, None)


def cli_scrub(args: argparse.Namespace) -> int:
    """Scrub --text-column of --input into --output (every row, in order) plus OUTPUT.spans.jsonl."""
    from pathlib import Path

    from tasks.config import PiiConfig, load_config
    from tasks.pii.ops import needs_key, resolve_pseudonym_key
    from tasks.pii.stream import scrub_file

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
    from pathlib import Path

    from tasks.pii.score import format_table, read_jsonl_by_id, score, spans_from_file

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and args.command in NO_TORCH:
        _without_torch()
    # No network here: no telemetry; a loaded 2-core machine needs longer for the ephemeral server.
    for key, value in {
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    }.items():
        os.environ.setdefault(key, value)
    module, handler, _ = COMMANDS[args.command]
    from tasks.errors import TunegateError

    try:
        fn = getattr(importlib.import_module(module), handler)
        quiet_named_errors()
        return int(fn(args) or 0)
    except TunegateError as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
