"""Shared test set-up: an isolated Prefect home, offline model hubs, a test pseudonymisation key."""

import os
import shutil
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

CORES = len(os.sched_getaffinity(0))
ROOT = Path(__file__).resolve().parent.parent
MLFLOW_TEMPLATE = _HOME / "mlflow-template.db"
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


def seed_mlflow_db(path: Path) -> Path:
    """Put an empty MLflow database, migrated by this MLflow, at ``path`` (when none is there yet), for a
    pipeline a test starts in a child process. MLflow creates and migrates a fresh SQLite store in 4-17 s;
    every test that needs a registry of its own would pay that, so the suite makes one store, once, with
    MLflow's own migrations, and copies the file. The schema is MLflow's; nothing of the registry is stubbed."""
    import mlflow.store.db.utils as db_utils

    _MLFLOW_INIT.setdefault("tables", db_utils._initialize_tables)
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mlflow_template(), path)
    return path


def _mlflow_template() -> Path:
    if not MLFLOW_TEMPLATE.exists():
        from sqlalchemy import create_engine

        tmp = MLFLOW_TEMPLATE.with_suffix(".tmp")
        engine = create_engine(f"sqlite:///{tmp}")
        _MLFLOW_INIT["tables"](engine)
        engine.dispose()
        os.replace(tmp, MLFLOW_TEMPLATE)
    return MLFLOW_TEMPLATE


_MLFLOW_INIT: dict = {}


@pytest.fixture(scope="session", autouse=True)
def _fresh_mlflow_stores_from_the_template():
    """In this process, a new SQLite MLflow store starts as a copy of the migrated template (see
    ``seed_mlflow_db``); other back ends, and a store whose file already has tables, are MLflow's as ever."""
    import mlflow.store.db.utils as db_utils
    import mlflow.store.model_registry.sqlalchemy_store as registry_store

    original = _MLFLOW_INIT.setdefault("tables", db_utils._initialize_tables)

    def initialize(engine):
        db = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
        if not db or db == ":memory:":
            return original(engine)
        engine.dispose()  # no pooled connection keeps the empty file's pages
        shutil.copyfile(_mlflow_template(), db)  # written in place: the file the engine opens

    db_utils._initialize_tables = registry_store._initialize_tables = initialize
    yield
    db_utils._initialize_tables = registry_store._initialize_tables = original


def pytest_configure(config):
    """Threads for torch and BLAS in each test process, and the processes it starts: the cores shared among
    pytest-xdist's workers (set before any test module imports torch). Two workers on 2 cores that each run
    torch on 2 threads make OpenMP threads spin against each other: 300 steps of a tiny model took 39 s in each,
    against 5 s on one thread each. A value the caller exported is kept."""
    workers = getattr(config, "workerinput", {}).get("workercount") or config.getoption("numprocesses", None) or 1
    workers = CORES if workers in ("auto", "logical") else int(workers)  # the controller's env reaches the workers
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(max(1, CORES // workers)))


def torch_threads() -> int:
    """The threads a test gives torch in its own process (see ``pytest_configure``)."""
    return int(os.environ.get("OMP_NUM_THREADS") or CORES)


def pytest_collection_modifyitems(items):
    """A test that starts the Prefect test server (``prefect_harness``) is an integration test: `make test-fast`
    leaves it out, `make test` runs it."""
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
    _heaviest_files_first(items)


# The longest files first, by their wall time in the suite (2 workers on 2 cores, 2026-12-07, 18:12 in all).
# xdist reorders files by their number of tests unless told not to: PYTEST_ARGS in the Makefile passes
# --no-loadscope-reorder, or this order (and every order before it) would not reach the workers.
LONGEST = ("tests/deploy/test_deployments.py", "tests/train/test_finetune.py", "tests/pipeline/test_pipeline.py",
           "tests/train/test_resume.py", "tests/monitor/test_monitor.py", "tests/deploy/test_pool.py",
           "tests/common/test_server_locks.py", "tests/deploy/test_several_machines.py", "tests/train/test_nodes.py",
           "tests/ingest/test_malformed.py")


def _heaviest_files_first(items) -> None:
    """The longest files first, then files by their number of slow tests, each file's tests in their own
    order. xdist's ``loadfile`` hands out files in this order, so the long files start at once and the short
    ones fill in around them, instead of a long file starting last and leaving one worker alone at the end."""
    slow: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        slow[path] = slow.get(path, 0) + (item.get_closest_marker("slow") is not None)
    position = {path: i for i, path in enumerate(slow)}

    def key(item):
        path = item.nodeid.split("::")[0]
        return (LONGEST.index(path) if path in LONGEST else len(LONGEST), -slow[path], position[path])

    items.sort(key=key)
