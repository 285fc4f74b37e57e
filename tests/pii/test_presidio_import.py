"""Importing Presidio through tunegate skips its Hugging Face parts (``transformers.pipelines``), which
tunegate never uses, and leaves transformers whole for everything else."""

import subprocess
import sys

import pytest

PROBE = """
import sys
import tasks.pii
import presidio_analyzer
from presidio_analyzer.nlp_engine import huggingface_token_pipe
print("pipelines loaded with presidio:", "transformers.pipelines" in sys.modules)
print("presidio sees transformers:", huggingface_token_pipe.is_available())
from transformers import pipeline
print("pipeline afterwards:", pipeline.__module__)
"""


def test_presidio_loads_without_transformers_pipelines_and_transformers_stays_whole():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.splitlines() == ["pipelines loaded with presidio: False", "presidio sees transformers: False",
                                       "pipeline afterwards: transformers.pipelines"], out.stderr[-2000:]


@pytest.mark.slow  # loads transformers.pipelines: the cost the guard saves
def test_without_tunegate_first_presidio_would_load_them():
    """The probe's control: the same import without ``tasks.pii`` loads ``transformers.pipelines``."""
    probe = PROBE.replace("import tasks.pii\n", "")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.splitlines()[0] == "pipelines loaded with presidio: True", out.stderr[-2000:]
