"""At scale: every file of a generated corpus of 200+ malformed inputs (tests/malformed.py), tried through
`tunegate validate` in this process, gives a named error, a non-zero exit code, no traceback, no personal
data in the message, and no dataset left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tasks.errors import TunegateError
from tests import malformed


def _named(cls=TunegateError) -> dict[str, int]:
    out = {cls.__name__: cls.exit_code}
    for sub in cls.__subclasses__():
        out |= _named(sub)
    return out


NAMED = _named()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return malformed.build(tmp_path_factory.mktemp("malformed"))


def test_the_corpus_has_every_category_and_at_least_200_files(corpus):
    assert len(corpus) >= 200
    for category in ("utf8", "utf-16", "latin1", "truncated", "text_list", "huge", "binary", "bomb",
                     "duplicate_column", "bare_cr", "label_typo", "empty", "gzipped"):
        assert any(category in name for name in corpus), category
    for fmt in ("jsonl", "csv", "parquet", "txt"):
        assert sum(name.startswith(fmt) for name in corpus) >= 20, fmt


def _names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return sorted(malformed.build(Path(d)))


@pytest.mark.parametrize("case", _names())
def test_a_malformed_file_is_a_named_error_with_nothing_written(corpus, case, tmp_path):
    """The validate command's two steps, as its flow runs them (ingest, then the quality gate), in process."""
    from tasks.config import DataConfig, QualityConfig
    from tasks.ingest.task import ingest_documents, quality_gate

    src, data = corpus[case]
    data = DataConfig(source=str(src), sample=None, **{k: v for k, v in data.items() if k != "labels"})
    quality = QualityConfig(min_rows=5, min_per_class=1, labels=malformed.LABELS)
    run_dir = tmp_path / "run"
    with pytest.raises(TunegateError) as err:  # anything else would reach the user as a traceback
        quality_gate.fn(ingest_documents.fn(data, run_dir), quality, run_dir)
    assert type(err.value).__name__ in NAMED and err.value.exit_code != 0
    msg = str(err.value)
    assert malformed.SECRET not in msg and "Zebedee" not in msg, msg
    written = [p for p in tmp_path.rglob("*") if p.suffix == ".parquet" or ".tmp" in p.name]
    assert written == []


CLI_SAMPLE = ["jsonl_truncated_500", "csv_semicolons", "parquet_bomb_one_value", "parquet_duplicate_column_text",
              "txt_bad_utf8_middle", "jsonl_label_typo_fier_middle"]


@pytest.mark.slow
def test_through_the_command_a_sample_exits_non_zero_with_one_line_and_no_traceback(corpus, tmp_path, prefect_harness):
    import subprocess

    from prefect.settings import PREFECT_API_URL

    # the session's test server, not a fresh ephemeral one started (~15 s) by each of the six commands
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": PREFECT_API_URL.value()}

    for case in CLI_SAMPLE:
        src, data = corpus[case]
        cfg = {"name": "malformed", "work_dir": str(tmp_path / case / "work"),
               "data": {"source": str(src), "sample": None, **{k: v for k, v in data.items() if k != "labels"}},
               "quality": {"min_rows": 5, "min_per_class": 1, "labels": malformed.LABELS}}
        path = tmp_path / f"{case}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = subprocess.run([sys.executable, "-m", "flows.cli", "validate", str(path), "--no-scrub"],
                           cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=300, env=env)
        said = [line for line in r.stderr.splitlines() if line.split(":", 1)[0] in NAMED]
        assert len(said) == 1, (case, r.stderr[-1500:])  # the one line the command prints
        name = said[0].split(":", 1)[0]
        assert name in NAMED and r.returncode == NAMED[name] != 0, (case, r.returncode, r.stderr[-1500:])
        assert "Traceback" not in r.stderr and malformed.SECRET not in r.stderr + r.stdout, case
        assert not [p for p in (tmp_path / case).rglob("*.parquet")], case
