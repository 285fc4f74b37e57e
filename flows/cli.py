"""The ``tunegate`` command: error reporting and one handler per sub-command (arguments: ``cli_parser.py``).

Handlers import what they run when they run: ``scrub``, ``pii-eval`` and ``sample-data`` never import
Prefect or torch. Every handler returns an exit code; named tunegate errors print one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.cli_parser import COMMANDS, build_parser

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
    from tasks.pii.review import print_review
    from tasks.pii.stream import scrub_file
    from tasks.runtime import progress
    cfg = load_config(args.config) if args.config else None
    pii = cfg.pii if cfg else PiiConfig()
    key = pseudonym_key(pii, cfg.work_path() if cfg else Path(".tunegate"))
    out, spans = Path(args.output), Path(f"{args.output}.spans.jsonl")
    with progress("scrub", None, "rows") as bar:
        stats = scrub_file(Path(args.input), out, args.text_column, pii, key, spans, progress=bar.update)
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(stats.by_entity.items())) or "none"
    print(f"scrubbed {stats.docs} rows ({stats.docs_touched} touched) -> {out}; detected: {kinds}; "
          f"residual rate {stats.residual_rate:.4f}")
    if args.review:  # the plain forms, to this terminal only: never written (tasks/pii/review.py)
        print_review(Path(args.input), spans, args.text_column, pii, key)
    return 0


def cli_pii_eval(args: argparse.Namespace) -> int:
    """Recall, precision and F2 per entity type of a scrub's spans against a ground-truth sidecar."""
    from tasks.errors import InputError
    from tasks.pii.score import format_table, read_jsonl_by_id, score, spans_from_file
    gold = read_jsonl_by_id(Path(args.gold), "ground-truth")
    spans_path = Path(args.scrubbed if args.scrubbed.endswith(".spans.jsonl") else f"{args.scrubbed}.spans.jsonl")
    pred = spans_from_file(spans_path)
    if not set(gold) & set(pred):
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


def cli_train_node(args: argparse.Namespace) -> int:
    """``tunegate train-node --run-dir DIR --node-rank K [--rdzv HOST:PORT]``."""
    from tasks.train.join import join_run
    return join_run(Path(args.run_dir), args.node_rank, args.rdzv)


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


def cli_revalidate(args: argparse.Namespace) -> int:
    """``tunegate revalidate --config C --version N [--validator NAME]``: exit 0 when every number is reproduced."""
    from tasks.governance.revalidation import command

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


def cli_deploy(args: argparse.Namespace) -> int:
    """``tunegate deploy --config C [--pool NAME] [--image IMAGE]``: the deployments of `up`, on a work pool."""
    from deployments.pool import deploy_to_pool
    from tasks.config import load_config
    cfg = load_config(args.config)
    names = deploy_to_pool(cfg, args.pool, args.image)
    print(f"deployments: {', '.join(names)}; runs start when a worker polls the pool: prefect worker start "
          f"--pool {args.pool or cfg.deploy.work_pool}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    file_command = argv is None and args.command in NO_TORCH
    if file_command:
        _without_torch()
    rc = _dispatch(args)
    if file_command:  # its files are written and closed: skip tearing down spaCy, Presidio and the lists (~0.3 s)
        import logging
        import os
        logging.shutdown()
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(rc)
    return rc


def _dispatch(args: argparse.Namespace) -> int:
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
