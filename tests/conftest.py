"""Shared test set-up: an isolated Prefect home, offline model hubs, a test pseudonymisation key."""

import os
import tempfile
from pathlib import Path

import pytest

from tasks.runtime import offline_environment

_HOME = Path(tempfile.mkdtemp(prefix="tunegate-tests-"))
# Must be set before prefect is imported anywhere.
os.environ.setdefault("PREFECT_HOME", str(_HOME / "prefect"))
offline_environment()  # tasks.runtime imports nothing that reads these (no Prefect, no MLflow)
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_HOME / 'mlflow.db'}")
os.environ["TUNEGATE_PII_KEY"] = "test-key-not-secret-32-bytes-long"  # >= 32 bytes
# The audit log's HMAC key (>= 32 bytes) and the evidence signing key (a fixed test seed), as a deployment's runs
# need them; development keys go to the test home, never to ~/.config.
os.environ["TUNEGATE_AUDIT_KEY"] = "test-audit-key-not-secret-0123456789abcdef"
os.environ["TUNEGATE_EVIDENCE_KEY"] = "11" * 32
os.environ["XDG_CONFIG_HOME"] = str(_HOME / "config")

ROOT = Path(__file__).resolve().parent.parent
CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"


@pytest.fixture(scope="session")
def cfpb_csv() -> Path:
    """The real CFPB complaints (shared/ beside the checkout); skips where a fresh user has none."""
    if not CFPB.is_file():
        pytest.skip("../shared/data/cfpb/complaints.csv is absent")
    return CFPB


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server (SQLite) for flow tests in this session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_collection_modifyitems(items):
    """A test that starts the Prefect test server (``prefect_harness``) is an integration test: `make test-fast`
    leaves it out, `make test` runs it."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
