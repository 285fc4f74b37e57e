"""Where the code runs: inside a Prefect run or not, its logger, and the offline environment.

Common layer, shared by every stage's boundary. Nothing here changes the environment at import time:
``offline_environment()`` is called by the entry points (the ``tunegate`` command, the deployments'
serve process, the MLflow client) before the libraries that read it start.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping

# No machine tunegate runs on needs the network: no telemetry, no model hub, no git probing noise, and a
# loaded 2-core machine needs longer for Prefect's ephemeral server.
OFFLINE = {
    "TOKENIZERS_PARALLELISM": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
}


def offline_environment(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Set the offline defaults where the user has not set them: in ``env`` (a child process's environment),
    else in this process's. Returns the environment."""
    env = os.environ if env is None else env
    for key, value in OFFLINE.items():
        env.setdefault(key, value)
    return env


def in_prefect_run() -> bool:
    """Inside a Prefect flow or task run (artifacts and run loggers are available)."""
    if "prefect" not in sys.modules:  # a process that never imported Prefect is in no run (the file scrub)
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def current_flow_run_id() -> str | None:
    """The hex id of the flow run this code runs in, or None."""
    if not in_prefect_run():
        return None
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.flow_run.id.hex if ctx and ctx.flow_run else None


def run_logger(fallback: str) -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a run, else the named standard logger."""
    if in_prefect_run():
        from prefect import get_run_logger

        return get_run_logger()
    return logging.getLogger(fallback)


def in_deployment_run() -> bool:
    """Inside a flow run that a deployment started (a schedule, a trigger, the UI): production."""
    if not in_prefect_run():
        return False
    from prefect.runtime import deployment

    return deployment.id is not None


def key_required(require_key: bool | None) -> bool:
    """``pii.require_key``, where None means: required in a deployment's runs."""
    return in_deployment_run() if require_key is None else require_key


def configured_secret(env: str, block: str | None, setting: str) -> str | None:
    """A secret from environment variable ``env``, else the Prefect Secret block ``block``; None when neither is
    set. Secrets never come from the config file or flow parameters (they are stored and displayed)."""
    if value := os.environ.get(env):
        return value
    if not block:
        return None
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(block).get())
    except Exception as e:  # noqa: BLE001 - any failure means no secret from the block
        from tasks.errors import ConfigError

        raise ConfigError(f"{setting}: Prefect Secret block '{block}' cannot be loaded ({type(e).__name__}); "
                          f"create it or set ${env}.") from None


class _NoTracebackForNamedErrors(logging.Filter):
    """Prefect logs a failed run's exception with its traceback; for tunegate's named errors one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tasks.errors import TunegateError

        if record.exc_info and isinstance(record.exc_info[1], TunegateError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_named_errors() -> None:
    """Attach the filter to Prefect's run loggers and every handler of Prefect's loggers (main() prints the
    error itself). On the loggers too: Prefect may set its handlers up again later (a temporary server, the
    first flow run), and a logger's filters stay."""
    names = ["prefect", "prefect.flow_runs", "prefect.task_runs"]
    names += [n for n in logging.Logger.manager.loggerDict if n.startswith("prefect.")]
    for name in dict.fromkeys(names):
        logger = logging.getLogger(name)
        for target in [logger, *logger.handlers]:
            if not any(isinstance(f, _NoTracebackForNamedErrors) for f in target.filters):
                target.addFilter(_NoTracebackForNamedErrors())


def progress(what: str, total: int | None, unit: str):
    """A ``tasks.progress.Progress``: a terminal bar, and inside a Prefect run a progress artifact as well."""
    from tasks.progress import Progress

    sink = None
    if in_prefect_run():
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        try:
            artifact = create_progress_artifact(progress=0.0, description=f"{what} ({unit})")
            sink = lambda pct: update_progress_artifact(artifact, progress=pct)  # noqa: E731
        except Exception:  # noqa: BLE001 - no API to write to: the terminal bar alone
            sink = None
    return Progress(what, total, unit, sink=sink)
