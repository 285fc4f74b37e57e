"""What every benchmark does last: print its figures as JSON and, with ``--out``, write the same to a file."""

from __future__ import annotations

import json
from pathlib import Path


def emit(figures: dict, out: Path | None) -> int:
    """Print ``figures`` (indented JSON; values JSON cannot encode are written as text), write them to
    ``out`` when given, and return the process's exit status (0)."""
    text = json.dumps(figures, indent=2, default=str)
    print(text)
    if out:
        Path(out).write_text(text)
    return 0
