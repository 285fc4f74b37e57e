"""Serving entry point: ``python -m deployments.serve --config PIPELINE.yaml``.

Registers the pipeline's deployments on the server at ``PREFECT_API_URL`` and runs their flow runs in
subprocesses until stopped. The config it loaded is pinned in its environment, which those subprocesses
inherit (tasks/governance/pinning.py): a run may tighten its policy fields and change nothing else.
`tunegate up` starts it detached; a work pool is the production alternative (docs/operations.md, "Production:
the same deployments on a work pool").
"""

from __future__ import annotations

import argparse
import os

# Runs turned away by the concurrency limit cost one API call each; a high process limit lets a storm of
# requests be settled in one poll instead of trickling in while the one real retrain runs.
RUN_LIMIT = 100


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deployments.serve")
    p.add_argument("--config", required=True, help="pipeline YAML")
    args = p.parse_args(argv)
    from tasks.runtime import offline_environment

    offline_environment()  # before Prefect, MLflow and transformers read their settings
    from prefect import serve

    from deployments.definitions import build_deployments
    from tasks.config import load_config
    from tasks.governance.pinning import pin_environment

    cfg = load_config(args.config)
    os.environ.update(pin_environment(cfg))  # before any flow run starts: each one inherits it
    serve(*build_deployments(cfg), limit=RUN_LIMIT, print_starting_message=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
