"""The compute record and the SBOM of a version (tasks/governance/compute.py, sbom.py)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from tasks.governance.compute import ASSUMED_WATTS, compute_record, count_parameters, estimate, file_digests


@pytest.mark.parametrize("metrics, params, hours_key, hours, flops, kwh", [
    ({"device": "cpu", "world_size": 1, "train_seconds": 3600, "train_tokens": 1000}, 10, "cpu_hours", 1.0,
     60_000, ASSUMED_WATTS["cpu"] / 1000),
    ({"device": "cuda:0", "world_size": 2, "train_seconds": 1800, "lr_search_seconds": 1800, "train_tokens": 5},
     100, "gpu_hours", 2.0, 3000, 2 * ASSUMED_WATTS["cuda"] / 1000),
    ({"device": "cpu", "train_seconds": 36}, None, "cpu_hours", 0.01, None, ASSUMED_WATTS["cpu"] * 36 / 3.6e6),
])
def test_the_estimates_state_their_inputs_and_method(metrics, params, hours_key, hours, flops, kwh):
    e = estimate(metrics, params)
    assert e[hours_key] == pytest.approx(hours) and e["training_flops"]["value"] == flops
    assert e["energy_kwh"]["value"] == pytest.approx(kwh, abs=1e-6)
    assert "6 x parameters x tokens" in e["training_flops"]["method"] and "not metered" in e["energy_kwh"]["method"]


def test_parameters_are_counted_from_safetensors_headers_and_every_base_file_digested(tmp_path):
    from safetensors.numpy import save_file

    base = tmp_path / "base"
    base.mkdir()
    save_file({"a": np.zeros((3, 4), dtype=np.float32), "b": np.zeros(5, dtype=np.float32)},
              str(base / "model.safetensors"))
    (base / "config.json").write_text("{}")
    assert count_parameters(base) == 17 and count_parameters(tmp_path) is None
    digests = file_digests(base)
    assert digests["config.json"] == hashlib.sha256(b"{}").hexdigest() and set(digests) == {"config.json",
                                                                                          "model.safetensors"}
    model = tmp_path / "model"
    model.mkdir()
    (model / "metrics.json").write_text(json.dumps({"device": "cpu", "world_size": 1, "train_seconds": 10.0,
                                                    "train_tokens": 100}))
    record = compute_record(model, str(base))
    assert record["training_flops"]["value"] == 6 * 17 * 100 and record["base_model"]["files"] == digests
    assert record["base_model"]["name"] == "base" and record["environment"]["python"]


@pytest.mark.slow  # the strict schema validation: 3-8 s on 2 busy cores
def test_the_sbom_is_valid_cyclonedx_listing_the_environment():
    from importlib import metadata

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from tasks.governance.sbom import python_sbom

    bom = python_sbom("tunegate", "abc123")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
    by_name = {c["name"].lower(): c for c in bom["components"]}
    pyd = by_name["pydantic"]
    assert pyd["version"] == metadata.version("pydantic") and pyd["purl"] == f"pkg:pypi/pydantic@{pyd['version']}"
    assert bom["metadata"]["component"]["version"] == "abc123" and len(by_name) > 50
