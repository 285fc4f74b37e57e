"""The ingest flow: load → quality gate → scrub; and the ``sample-data`` / ``validate`` commands."""

from __future__ import annotations

from pathlib import Path


def cli_sample_data(args) -> int:
    """``tunegate sample-data --out PATH --rows N --seed S [--drift KIND]``."""
    from tasks.sample_data import sidecar_path, write_sample

    out = write_sample(Path(args.out), rows=args.rows, seed=args.seed, drift=args.drift)
    print(f"wrote {args.rows} documents to {out} (drift: {args.drift}); PII ground truth in {sidecar_path(out)}")
    return 0
