"""Who may talk to the local stack: its API credential, CSRF and CORS settings, and where clients find them.

`tunegate up` always starts the server with basic auth. Given ``PREFECT_SERVER_API_AUTH_STRING`` it uses that;
otherwise it generates ``tunegate:<random>`` once per work folder into ``<work_dir>/stack/api-auth`` (mode
0600, created atomically, reused by later `up`s, never replaced: an unsafe or broken file is refused). CSRF
protection is on and CORS grants only the UI's own origin, whatever the caller's environment or Prefect
profile says. The secret itself is never printed, logged or written into ``stack.json``: `up` prints the
file's path. A `tunegate` command whose ``PREFECT_API_URL`` is the running stack of its config's work folder
reads the file itself; every other client is given ``PREFECT_API_AUTH_STRING`` by its operator.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

from tasks.config import PipelineConfig
from tasks.errors import ConfigError, StackError

AUTH_FILE = "api-auth"
USER = "tunegate"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_CREDENTIAL = re.compile(r"[^:\s]+:\S{16,}")


def ui_origins(port: int) -> list[str]:
    """The origins the UI is served from (the server itself, by address or by name)."""
    return [f"http://{host}:{port}" for host in LOCAL_HOSTS]


def server_security_env(port: int) -> dict[str, str]:
    """Settings of `prefect server start` that keep foreign callers out (they win over profiles and .env);
    the credential itself is set beside them."""
    return {
        "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": ",".join(ui_origins(port)),
        "PREFECT_SERVER_API_CORS_ALLOWED_METHODS": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
    }


def read_credential(path: Path) -> str:
    """The credential in ``path``: a regular file of ours, not a link, readable by its owner only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise StackError(f"{path}: cannot read the stack's API credential ({e.strerror}); it must be a regular "
                         "file, not a link. Remove it to have `tunegate up` make a new one.") from None
    with os.fdopen(fd) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise StackError(f"{path}: the stack's API credential must be a file of this user with mode 0600 "
                             f"(it is {stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}` if nobody else "
                             "read it, else remove it and run `tunegate up` again for a new one.")
        value = f.read().strip()
    return checked(value, str(path), "remove the file to have `tunegate up` make a new one")


def checked(value: str, source: str, fix: str) -> str:
    """``value`` when it is ``user:password`` with a password of 16 characters or more."""
    if not _CREDENTIAL.fullmatch(value):
        raise StackError(f"{source}: not a credential of the form user:password with a password of 16 "
                         f"characters or more (no spaces); {fix}.")
    return value


def stack_credential(d: Path) -> str:
    """The stack's credential under ``d``: made once (0600, atomically, never replaced), then reused."""
    path = d / AUTH_FILE
    if not path.exists() and not path.is_symlink():
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{AUTH_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{USER}:{secrets.token_urlsafe(32)}\n")
        try:
            os.link(tmp, path)  # fails if another `up` made one meanwhile: theirs stands
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return read_credential(path)


def refuse_key_blocks(cfg: PipelineConfig) -> None:
    """A Secret block on this stack is readable by anyone holding its API credential: keys come from the env."""
    for field, value, env in (("pii.pseudonym_key_block", cfg.pii.pseudonym_key_block, cfg.pii.pseudonym_key_env),
                              ("registry.evidence_key_block", cfg.registry.evidence_key_block,
                               "TUNEGATE_EVIDENCE_KEY"),
                              ("registry.audit_key_block", cfg.registry.audit_key_block, "TUNEGATE_AUDIT_KEY")):
        if value:
            raise ConfigError(
                f"{field}: a Prefect Secret block on the local stack can be read by everyone who holds its API "
                f"credential; remove {field} and give the key as ${env} from a secret manager (or a Kubernetes "
                "Secret mounted as an environment variable) to the process that runs `tunegate up`.")


def _stack_port(url: str) -> int | None:
    """The port of ``url`` when it is a local stack's API address (http://127.0.0.1|localhost:PORT/api)."""
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError:
        return None
    if u.scheme == "http" and u.hostname in LOCAL_HOSTS and u.path.rstrip("/") == "/api":
        return port
    return None


def use_stack_credential(config: str | None, environ: dict | None = None) -> bool:
    """Give a CLI command the stack's credential when ``PREFECT_API_URL`` is this config's running stack.

    Only then, and only when no ``PREFECT_API_AUTH_STRING`` is set: another server never sees this credential.
    """
    from deployments.stack import read_state, running, stack_dir

    env = os.environ if environ is None else environ
    url = env.get("PREFECT_API_URL", "")
    if not config or not url or env.get("PREFECT_API_AUTH_STRING") or not Path(config).is_file():
        return False
    port = _stack_port(url)
    if port is None:
        return False
    from tasks.config import load_config

    d = stack_dir(load_config(config))
    state = read_state(d)
    if state.get("port") != port or state.get("credential") != AUTH_FILE or "server" not in running(d)["pids"]:
        return False
    env["PREFECT_API_AUTH_STRING"] = read_credential(d / AUTH_FILE)
    return True
