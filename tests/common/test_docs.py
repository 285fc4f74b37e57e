"""The docs: every command they show exists, every link resolves (the README's length: tests/test_layout.py).

Fenced ``bash``/``sh``/``console`` blocks may show only commands of kinds this file can check:
``tunegate …`` / ``python -m flows.cli …`` (parsed by ``flows.cli.build_parser``, nothing runs),
``make TARGET`` (the Makefile, read now), ``python benchmarks/X.py --flags`` (its ``--help`` lists the
flags), ``bash benchmarks/X.sh`` (``bash -n``) and ``export NAME=…`` (a variable the code reads). Inline
code that starts like one of these is checked at the flag level. ``python`` blocks must compile, and their
``from tasks|flows|deployments… import name`` must resolve. Each failure names the doc and the line.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
SHELL = {"bash", "sh", "console", "shell"}
PYTHONS = {"python", "python3", ".venv/bin/python"}
CODE_DIRS = ("tasks", "flows", "deployments", "benchmarks")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _blocks(path: Path):
    """(language, [(line number, line)]) of each fenced block, and the (line number, line) outside them."""
    blocks, prose, lang, body = [], [], None, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"\s*```+\s*([\w-]*)", line)
        if fence and lang is None:
            lang, body = fence.group(1).lower() or "text", []
        elif fence:
            blocks.append((lang, body))
            lang = None
        elif lang is None:
            prose.append((n, line))
        else:
            body.append((n, line))
    assert lang is None, f"{_rel(path)}: a fenced block is never closed"
    return blocks, prose


def _shell_commands(lang: str, body: list[tuple[int, str]]):
    """(line, argv) of each command of a shell block: ``$ `` lines of a console block, every line of a script."""
    pending, start = "", 0
    for n, line in body:
        if lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = pending + line, ""
        argv = shlex.split(text, comments=True)
        cmd: list[str] = []
        for tok in [*argv, "&&"]:  # one command per `&&`, `||`, `;` or `|`
            if tok in ("&&", "||", ";", "|"):
                if cmd:
                    yield start, cmd
                cmd = []
            else:
                cmd.append(tok)


@cache
def _parser():
    from flows.cli import build_parser

    return build_parser()


def _subparsers():
    import argparse

    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@cache
def _make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(t for m in re.finditer(r"^([\w.-]+(?:[ \t]+[\w.-]+)*)[ \t]*:(?!=)", text, re.M)
                     for t in m.group(1).split())


@cache
def _help(script: str) -> str:
    path = ROOT / "benchmarks" / script
    if path.suffix == ".sh":
        run = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        return "" if run.returncode else run.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(path), "--help"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"benchmarks/{script} --help failed: {run.stderr[-500:]}"
    return run.stdout


@cache
def _code_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def _flags(argv: list[str]) -> list[str]:
    return [t.split("=", 1)[0] for t in argv if t.startswith("--")]


def _check_tunegate(argv: list[str], full: bool) -> str | None:
    """argv after ``tunegate``. Full: parse it as the CLI would; else: the sub-command, its flags, its choices."""
    if full:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                _parser().parse_args(argv)
            except SystemExit as e:
                if e.code:
                    return "tunegate " + " ".join(argv) + ": " + err.getvalue().strip().splitlines()[-1]
        return None
    subs = _subparsers()
    if argv and (argv[0] in ("--help", "-h") or argv[0].isupper()):  # `tunegate --help`, `tunegate COMMAND --help`
        return None if set(_flags(argv)) <= {"--help"} else f"`tunegate {' '.join(argv)}`: only --help is general"
    if not argv or argv[0] not in subs:
        return f"`tunegate {argv[0] if argv else ''}` is no sub-command (have: {', '.join(subs)})"
    sub = subs[argv[0]]
    known = {o for a in sub._actions for o in a.option_strings}
    bad = [f for f in _flags(argv[1:]) if f not in known]
    if bad:
        return f"`tunegate {argv[0]}` has no option {', '.join(bad)}"
    positional = next((a for a in sub._actions if not a.option_strings), None)
    word = argv[1] if len(argv) > 1 else ""
    if positional is not None and positional.choices and re.fullmatch(r"[a-z][a-z-]*", word) \
            and word not in positional.choices:
        return f"`tunegate {argv[0]} {word}`: {positional.dest} is one of {', '.join(positional.choices)}"
    return None


def _check(argv: list[str], full: bool) -> str | None:
    """None when the command is of a known kind and checks out; else why not. Not full: inline code,
    checked only when it starts like a command of a known kind (inline code is also config keys, paths …)."""
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):  # VAR=value before a command
        argv = argv[1:]
    if not argv:
        return None
    head = argv[0]
    if head == "export":
        names = [a.split("=", 1)[0] for a in argv[1:]]
        unread = [n for n in names if not re.search(rf"\b{n}\b", _code_text())]
        return f"export of {', '.join(unread)}, which no code reads" if unread else None
    if head in ("tunegate", ".venv/bin/tunegate"):
        return _check_tunegate(argv[1:], full) if full or len(argv) > 1 else None
    if head in PYTHONS and argv[1:3] == ["-m", "flows.cli"]:
        return _check_tunegate(argv[3:], full)
    if head == "make":
        missing = [t for t in argv[1:] if "=" not in t and not t.startswith("-") and t not in _make_targets()]
        return f"no Makefile target {', '.join(missing)}" if missing else None
    if head in PYTHONS | {"bash"} and len(argv) > 1:
        head, argv = argv[1], argv[1:]
    if re.fullmatch(r"benchmarks/\w+\.(py|sh)|\w+_bench\.py", head) or (full and re.fullmatch(r"\w+\.(py|sh)", head)):
        script = head.rsplit("/", 1)[-1]
        if not (ROOT / "benchmarks" / script).is_file():
            return f"no script benchmarks/{script}"
        if script.endswith(".sh"):
            return _help(script) or None
        text = _help(script)
        bad = [f for f in _flags(argv[1:]) if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
        return f"benchmarks/{script} has no option {', '.join(bad)}" if bad else None
    return f"cannot check `{' '.join(argv)}`: show only tunegate, make, benchmark or export commands" \
        if full else None


def _inline_commands(prose: list[tuple[int, str]]):
    for n, line in prose:
        for span in re.findall(r"`([^`]+)`", line):
            text = re.sub(r"[\[\]()]", " ", span.replace("\\|", "|"))
            try:
                argv = shlex.split(text)
            except ValueError:
                continue
            argv = [a for t in argv for a in t.split("|") if a]
            yield n, argv


def test_every_command_the_docs_show_exists():
    bad = []
    for path in DOCS:
        blocks, prose = _blocks(path)
        for lang, body in blocks:
            if lang in SHELL:
                for n, argv in _shell_commands(lang, body):
                    if why := _check(argv, full=True):
                        bad.append(f"{_rel(path)}:{n}: {why}")
        for n, argv in _inline_commands(prose):
            if why := _check(argv, full=False):
                bad.append(f"{_rel(path)}:{n}: {why}")
    assert not bad, "commands in the docs that do not exist:\n" + "\n".join(bad)


def test_python_snippets_compile_and_import_what_exists():
    bad = []
    for path in DOCS:
        for lang, body in _blocks(path)[0]:
            if lang != "python" or not body:
                continue
            start = body[0][0]
            source = "\n".join(line for _, line in body)
            try:
                compile(source, str(path), "exec")
            except SyntaxError as e:
                bad.append(f"{_rel(path)}:{start + (e.lineno or 1) - 1}: {e.msg}")
                continue
            for m in re.finditer(r"^from ((?:tasks|flows|deployments)[\w.]*) import ([\w, ]+)$", source, re.M):
                n = start + source[:m.start()].count("\n")
                try:
                    mod = importlib.import_module(m.group(1))
                except ImportError as e:
                    bad.append(f"{_rel(path)}:{n}: {e}")
                    continue
                bad += [f"{_rel(path)}:{n}: {m.group(1)} has no {name}"
                        for name in (x.strip() for x in m.group(2).split(",")) if not hasattr(mod, name)]
    assert not bad, "python snippets in the docs that do not hold:\n" + "\n".join(bad)


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for _, line in _blocks(path)[1] if re.match(r"#{1,6} ", line)}


def test_every_relative_link_resolves():
    bad = []
    for path in DOCS:
        for n, line in _blocks(path)[1]:
            for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
                if re.match(r"[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                dest = (path.parent / file).resolve() if file else path
                if not dest.exists():
                    bad.append(f"{_rel(path)}:{n}: {target} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                    bad.append(f"{_rel(path)}:{n}: {target} (no such heading)")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_every_path_the_docs_name_exists():
    """Inline `tasks/…`, `tests/…` (and the like) paths exist; a bare `test_x.py` is a test file somewhere in tests/."""
    tests = {p.name for p in (ROOT / "tests").rglob("test_*.py")}
    bad = []
    for path in DOCS:
        for n, line in _blocks(path)[1]:
            for span in re.findall(r"`([^`]+)`", line):
                if re.fullmatch(r"(tasks|flows|deployments|benchmarks|tests|examples|docs)/[\w./-]*", span):
                    if not (ROOT / span).exists():
                        bad.append(f"{_rel(path)}:{n}: {span}")
                elif re.fullmatch(r"test_\w+\.py", span) and span not in tests:
                    bad.append(f"{_rel(path)}:{n}: {span} (no such test file)")
    assert not bad, "paths in the docs that the tree does not have:\n" + "\n".join(bad)


def test_every_named_error_is_listed():
    import ast

    tree = ast.parse((ROOT / "tasks" / "errors.py").read_text(encoding="utf-8"))
    names = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name != "TunegateError"]
    section = (ROOT / "docs" / "stages.md").read_text(encoding="utf-8").split("## Named errors", 1)[1]
    missing = [n for n in names if f"`{n}`" not in section]
    assert not missing, f"docs/stages.md's Named errors leaves out {missing}"


def test_architecture_names_every_package_and_only_packages_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "tasks").glob("*/__init__.py"))
    missing = [p for p in packages if f"`{p}/`" not in section]
    assert not missing, f"README.md's Architecture leaves out {missing}"
    named = set(re.findall(r"`((?:tasks|flows|deployments)/[\w/]*?)/?`", section))
    absent = sorted(n for n in named if not (ROOT / n).exists() and not (ROOT / f"{n}.py").exists())
    assert not absent, f"README.md's Architecture names what the tree does not have: {absent}"
