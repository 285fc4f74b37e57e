"""The ``tunegate`` command's arguments: one sub-parser per command (the handlers are in ``flows/cli.py``)."""

from __future__ import annotations

import argparse

# command -> (handler in flows/cli.py, help)
COMMANDS = {
    "sample-data": ("cli_sample_data", "write a synthetic insurance-claims corpus with PII ground truth"),
    "validate": ("cli_validate", "ingest the config's data and run the quality gate (and PII scrub)"),
    "scrub": ("cli_scrub", "scrub PII from the text column of a CSV/JSONL/Parquet file"),
    "pii-eval": ("cli_pii_eval", "recall/precision/F2 of a scrub against a ground-truth sidecar"),
    "run": ("cli_run", "the whole training pipeline: ingest → gate → scrub → train → evaluate → promote"),
    "train-node": ("cli_train_node", "join a fine-tune on several nodes as node K (node 0 is `tunegate run`)"),
    "predict": ("cli_predict", "score a file with the champion (or a named version)"),
    "rollback": ("cli_rollback", "move the champion alias back to an earlier version"),
    "monitor": ("cli_monitor", "check a production batch for drift and emit the drift event"),
    "subject": ("cli_subject", "GDPR access and erasure: where a person's documents are, or remove them everywhere"),
    "audit": ("cli_audit", "verify the audit log's HMAC chain and heads: edited, removed or reordered entries"),
    "evidence": ("cli_evidence", "a version's signed evidence pack for a regulator, and its verification"),
    "revalidate": ("cli_revalidate", "recompute a version's numbers from the registry alone and check them"),
    "inventory": ("cli_inventory", "every version of the model: owner, tier, status, validation, review due"),
    "purge": ("cli_purge", "delete what retention no longer allows: raw copies, predictions, checkpoints, models"),
    "up": ("cli_up", "start a local Prefect server and serve the deployments"),
    "down": ("cli_down", "stop what `tunegate up` started"),
    "deploy": ("cli_deploy", "register the deployments on a work pool of the server at PREFECT_API_URL"),
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
    s.add_argument("--review", action="store_true", help="print forms replaced in >= pii.review_min_docs documents")

    s = add("pii-eval")
    s.add_argument("--gold", required=True, help="ground-truth sidecar (PATH.pii.jsonl from sample-data)")
    s.add_argument("--scrubbed", required=True, help="output of `tunegate scrub` (its .spans.jsonl sits beside it)")

    s = add("run")
    s.add_argument("config", help="pipeline YAML, e.g. examples/claims.yaml")

    s = add("train-node")
    s.add_argument("--run-dir", required=True, help="the run's work folder node 0 logged (shared storage)")
    s.add_argument("--node-rank", type=int, required=True, help="this node, 1 to train.nnodes - 1")
    s.add_argument("--rdzv", help="HOST:PORT of node 0's rendezvous (default: train.rdzv_endpoint)")

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

    s = add("revalidate")
    s.add_argument("--config", required=True, help="pipeline YAML (registry, work_dir, promotion.four_eyes)")
    s.add_argument("--version", type=int, required=True, help="the model version to re-validate")
    s.add_argument("--validator", help="who re-validates, for the audit log (default: this OS account); under "
                   "promotion.four_eyes not the person who started the version's run")

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

    s = add("deploy")
    s.add_argument("--config", required=True, help="pipeline YAML the deployments run (pinned in their job variables)")
    s.add_argument("--pool", help="work pool: process, docker or kubernetes (default: deploy.work_pool)")
    s.add_argument("--image", help="docker/kubernetes pools: the image the runs start from (nothing is built)")
    return p
