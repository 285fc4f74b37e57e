"""The ``tunegate`` command: argument parsing, error reporting, and one handler per sub-command.

Handlers import what they run when they run: ``scrub``, ``pii-eval`` and ``sample-data`` never import
Prefect or torch. Every handler returns an exit code; named tunegate errors print one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# command -> (handler in this module, help)
COMMANDS = {
    "sample-data": ("cli_sample_data", "write a synthetic insurance-claims corpus with PII ground truth"),
    "validate": ("cli_validate", "ingest the config's data and run the quality gate (and PII scrub)"),
    "scrub": ("cli_scrub", "scrub PII from the text column of a CSV/JSONL/Parquet file"),
    "pii-eval": ("cli_pii_eval", "recall/precision/F2 of a scrub against a ground-truth sidecar"),
    "run": ("cli_run", "the whole training pipeline: ingest → gate → scrub → train → evaluate → promote"),
    "predict": ("cli_predict", "score a file with the champion (or a named version)"),
    "rollback": ("cli_rollback", "move the champion alias back to an earlier version"),
    "monitor": ("cli_monitor", "check a production batch for drift and emit the drift event"),
    "subject": ("cli_subject", "GDPR access and erasure: where a person's documents are, or remove them everywhere"),
    "audit": ("cli_audit", "verify the audit log's HMAC chain and heads: edited, removed or reordered entries"),
    "evidence": ("cli_evidence", "a version's signed evidence pack for a regulator, and its verification"),
    "inventory": ("cli_inventory", "every version of the model: owner, tier, status, validation, review due"),
    "purge": ("cli_purge", "delete what retention no longer allows: raw copies, predictions, checkpoints, models"),
    "up": ("cli_up", "start a local Prefect server and serve the deployments"),
    "down": ("cli_down", "stop what `tunegate up` started"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tunegate", description=(
        "Fine-tune a small model on regulated documents, with the evidence a regulator asks for: a data quality "
        "gate, audited PII scrubbing, LoRA fine-tuning under torchrun, champion/challenger promotion in MLflow, "
        "and drift monitoring that triggers retraining."),
        epilog="Run `tunegate COMMAND --help` for a command's options. Start with: tunegate run examples/claims.yaml")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=COMMANDS[name][1], description=COMMANDS[name][1])

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
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument("--to-version", type=int, help="a version once promoted (under require_approval: a request)")
    how.add_argument("--approve", metavar="REQUEST_ID", help="approve another person's pending rollback request")
    s.add_argument("--reason", default="manual rollback", help="why, for the audit log")

    s = add("monitor")
    s.add_argument("--config", required=True, help="pipeline YAML")
    s.add_argument("--batch", required=True, help="file or folder of new production documents")

    s = add("subject")
    s.add_argument("action", choices=["find", "erase", "certificate"], help="find: where the subject's identifiers "
                   "are (ids and counts); erase: remove their documents everywhere, retrain without them, write a "
                   "signed certificate; certificate verify FILE: check one")
    s.add_argument("file", nargs="*", metavar="verify FILE", help="certificate: verify and the certificate's path")
    s.add_argument("--config", required=True, help="pipeline YAML (work_dir, registry, pseudonymisation key)")
    s.add_argument("--value-file", help="find, erase: file of `ENTITY: value` lines (never on the command line)")
    s.add_argument("--public-key", action="append", help="certificate verify: a trusted signer's key (hex)")
    s.add_argument("--reason", default="", help="erase: why, for the audit log: the request's ticket, never a name")

    s = add("audit")
    s.add_argument("action", choices=["verify"], help="verify: recompute the chain of the config's audit.jsonl")
    s.add_argument("--config", required=True, help="pipeline YAML (work_dir, registry, audit key)")
    s.add_argument("--pack", help="an evidence pack whose recorded audit head the log must still hold")

    s = add("evidence")
    s.add_argument("action", nargs="?", default="build", choices=["build", "verify", "keygen"],
                   help="build (default): write a version's signed pack; verify PACK; keygen PATH: a new signing key")
    s.add_argument("path", nargs="?", help="verify: the pack (folder or .zip); keygen: where to write the key")
    s.add_argument("--config", help="pipeline YAML (build: registry, work_dir; verify: trusted keys, registry)")
    s.add_argument("--version", type=int, help="build: the model version")
    s.add_argument("--out", help="build: a new folder, or a .zip")
    s.add_argument("--public-key", action="append", help="verify: a trusted signer's public key (hex); repeatable")
    s.add_argument("--trust-file", help="verify: a file of trusted public keys (hex), one a line")
    s.add_argument("--allow-dev-key", action="store_true", help="verify: accept a pack signed with a development key")
    s.add_argument("--require-coverage", metavar="BLOCKS", help="verify: fail on a missing clause of these technical "
                   "file blocks (annex4,art10,art12,art15,ss1-23,edpb or all)")

    s = add("inventory")
    s.add_argument("--config", required=True, help="pipeline YAML (registry, governance:)")
    s.add_argument("--format", choices=["md", "json"], default="md", help="a Markdown table (default) or JSON")

    s = add("purge")
    s.add_argument("--config", required=True, help="pipeline YAML (work_dir and retention: section)")

    s = add("up")
    s.add_argument("--config", default="examples/claims.yaml", help="pipeline YAML the deployments run")
    s.add_argument("--port", type=int, default=None, help="Prefect server port (default: deploy.port, 4200)")
    s.add_argument("--foreground", action="store_true", help="serve in this terminal until Ctrl-C")

    s = add("down")
    s.add_argument("--config", default="examples/claims.yaml", help="pipeline YAML whose stack to stop")
    return p


# File-to-file commands that never train or serve a model.
NO_TORCH = {"scrub", "pii-eval", "sample-data"}


def _without_torch() -> None:
    """Presidio imports transformers and torch when installed (~5 s, more than scrubbing a few thousand documents
    takes), never used on the scrubbing path. Only for a `tunegate` process; a caller passing argv keeps its own."""
    for name in ("transformers", "torch"):
        sys.modules.setdefault(name, None)


# ---- handlers -----------------------------------------------------------------------------------------
def cli_sample_data(args: argparse.Namespace) -> int:
    """``tunegate sample-data --out PATH --rows N --seed S [--drift KIND]``."""
    from tasks.ingest.sample_data import sidecar_path, write_sample
    out = write_sample(Path(args.out), rows=args.rows, seed=args.seed, drift=args.drift)
    print(f"wrote {args.rows} documents to {out} (drift: {args.drift}); PII ground truth in {sidecar_path(out)}")
    return 0


def cli_validate(args: argparse.Namespace) -> int:
    """``tunegate validate CONFIG [--no-scrub]``: run the ingest flow and print a short summary."""
    from flows.ingest import ingest
    from tasks.config import load_config
    config = load_config(args.config)
    if args.no_scrub:
        config = config.model_copy(update={"pii": config.pii.model_copy(update={"enabled": False})})
    print("\n".join(ingest(config).lines()))
    return 0


def cli_scrub(args: argparse.Namespace) -> int:
    """Scrub --text-column of --input into --output (every row, in order) plus OUTPUT.spans.jsonl."""
    from tasks.config import PiiConfig, load_config
    from tasks.pii.ops import pseudonym_key
    from tasks.pii.stream import scrub_file
    from tasks.runtime import progress
    cfg = load_config(args.config) if args.config else None
    pii = cfg.pii if cfg else PiiConfig()
    work_dir = cfg.work_path() if cfg else Path(".tunegate")
    key = pseudonym_key(pii, work_dir)
    out = Path(args.output)
    with progress("scrub", None, "rows") as bar:
        stats = scrub_file(Path(args.input), out, args.text_column, pii, key, Path(f"{out}.spans.jsonl"),
                           progress=bar.update)
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(stats.by_entity.items())) or "none"
    print(f"scrubbed {stats.docs} rows ({stats.docs_touched} touched) -> {out}; detected: {kinds}; "
          f"residual rate {stats.residual_rate:.4f}")
    return 0


def cli_pii_eval(args: argparse.Namespace) -> int:
    """Recall, precision and F2 per entity type of a scrub's spans against a ground-truth sidecar."""
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


def cli_run(args: argparse.Namespace) -> int:
    """``tunegate run CONFIG``."""
    from flows.train import train_pipeline
    from tasks.config import load_config
    from tasks.locks import retrain_lock
    cfg = load_config(args.config)
    with retrain_lock(cfg.registry_scope):  # serialised with retrains and erasures (RetrainBusy when one is running)
        print("\n".join(train_pipeline(cfg).lines(cfg.model_name, cfg.train)))
    return 0


def cli_predict(args: argparse.Namespace) -> int:
    """``tunegate predict --config C --input IN --output OUT [--model-version N|champion]``."""
    from flows.predict import predict
    from tasks.config import load_config
    cfg = load_config(args.config)
    ref = predict(cfg, args.input, args.output, args.model_version)
    print(f"wrote {ref.rows} predictions (id, prediction, confidence) from {cfg.model_name} v{ref.model_version} "
          f"to {ref.uri}; mean confidence {ref.mean_confidence:.3f}")
    return 0


def cli_rollback(args: argparse.Namespace) -> int:
    """``tunegate rollback --config C (--to-version N [--reason R] | --approve REQUEST_ID)``."""
    from tasks.config import load_config
    from tasks.governance.rollback import rollback_command
    cfg = load_config(args.config)
    print(rollback_command(cfg.registry_scope, cfg.promotion, args.to_version, args.reason, args.approve, args.config))
    return 0


def cli_monitor(args: argparse.Namespace) -> int:
    """``tunegate monitor --config C --batch PATH``: one line, ``drift: detected`` or ``drift: none``."""
    from flows.monitor import monitor
    from tasks.config import load_config
    result = monitor(load_config(args.config), args.batch)
    print(result.line())
    return 0


def cli_subject(args: argparse.Namespace) -> int:
    """``tunegate subject find|erase --config C --value-file F [--reason R]`` (ids and counts, never a value) |
    ``subject certificate verify FILE --config C [--public-key K]``."""
    from tasks.config import load_config
    from tasks.pii.engine import ENTITIES
    from tasks.subjects.erase import erase_subject
    from tasks.subjects.find import find_subject
    cfg = load_config(args.config)
    if args.action == "certificate" or not args.value_file:
        from tasks.subjects.certificate import verify_command
        lines, code = verify_command(args.action, args.file, cfg.registry, args.public_key or [])
        print("\n".join(lines))
        return code
    known = set(ENTITIES) | {r.entity for r in cfg.pii.references}
    if args.action == "erase":
        report = erase_subject(cfg.registry_scope, cfg.pii, Path(args.value_file), args.reason, known)
    else:
        report = find_subject(cfg.registry_scope, cfg.pii, Path(args.value_file), known)
    print("\n".join(report.lines(cfg.model_name)))
    if args.action == "erase":
        report.raise_if_incomplete()  # ErasureIncomplete: exit 11, after the report says what is left
    return 0


def cli_audit(args: argparse.Namespace) -> int:
    """``tunegate audit verify --config C [--pack P]``: exit 1 and every broken link or head when it does not hold."""
    from tasks.governance.audit_check import command
    lines, code = command(args.config, args.pack)
    print("\n".join(lines))
    return code


def cli_evidence(args: argparse.Namespace) -> int:
    """``tunegate evidence [build] --config C --version N --out DIR|ZIP`` | ``verify PACK --public-key K`` | keygen."""
    from tasks.governance.evidence import command
    lines, code = command(args)
    print("\n".join(lines))
    return code


def cli_inventory(args: argparse.Namespace) -> int:
    """``tunegate inventory --config C [--format md|json]``: overdue reviews are flagged."""
    from tasks.governance.inventory import inventory_command
    print(inventory_command(args.config, args.format))
    return 0


def cli_purge(args: argparse.Namespace) -> int:
    """``tunegate purge --config C``: what ``retention`` no longer allows to stay on disk."""
    from tasks.config import load_config
    from tasks.subjects.stores import purge_all, purge_lines
    cfg = load_config(args.config)
    print("\n".join(purge_lines(cfg.registry_scope, cfg.retention, purge_all(cfg.registry_scope, cfg.retention))))
    return 0


def cli_up(args: argparse.Namespace) -> int:
    """``tunegate up [--config C] [--port P] [--foreground]``."""
    from deployments.stack import up
    return up(args.config, args.port, args.foreground)


def cli_down(args: argparse.Namespace) -> int:
    """``tunegate down [--config C]``."""
    from deployments.stack import down
    return down(getattr(args, "config", None))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and args.command in NO_TORCH:
        _without_torch()
    from tasks.runtime import offline_environment
    offline_environment()
    handler, _ = COMMANDS[args.command]
    from tasks.errors import TunegateError
    try:
        fn = globals()[handler]
        from deployments.access import use_stack_credential  # before Prefect reads its settings
        use_stack_credential(getattr(args, "config", None))
        from tasks.runtime import quiet_named_errors
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
