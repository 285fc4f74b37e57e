"""A one-step scrub flow.

``tunegate scrub`` (flows/cli.py) scrubs a file without Prefect (it is a file-to-file tool); the
pipeline runs the ``scrub_pii`` task inside the ``ingest`` flow.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from tasks.config import PiiConfig
from tasks.pii.score import PiiEvidence
from tasks.pii.task import scrub_pii
from tasks.refs import DatasetRef


@flow(name="scrub")
def scrub(dataset: DatasetRef, pii: PiiConfig, run_dir: str, gold: str | None = None) -> PiiEvidence:
    """Scrub one canonical dataset: scrub → residual gate → evidence."""
    _, evidence = scrub_pii(dataset, pii, Path(run_dir), Path(gold) if gold else None)
    return evidence


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["scrub", *sys.argv[1:]]))
