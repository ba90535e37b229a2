"""Developer sessions: `nox -l` lists them. CI runs the README's test line instead (.ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

import nox
import tomllib

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
CONTRIB = sorted(p.name for p in Path("contrib").iterdir() if (p / "pyproject.toml").is_file())


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite on each Python the machine has (missing ones are skipped).

    With pyenv: PYENV_VERSION=3.11.7:3.10.13:3.12.1:3.13.0 nox -s tests
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy --strict on jaf_plugins/."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
@nox.parametrize("plugin", CONTRIB)
def contrib(session: nox.Session, plugin: str) -> None:
    """Each contrib plugin installed alone with the host, running its own tests."""
    session.install("-e", ".[test]", *(f"./contrib/{name}" for name in _with_local_deps(plugin)))
    session.run("python", "-m", "pytest", f"contrib/{plugin}/tests", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks in benchmarks/ (print ratios; exit 1 only on a correctness failure).

    Arguments after ``--`` go to both scripts, so pass only the options both take
    (``--backend``, ``--repeat``), e.g. ``nox -s bench -- --backend trio``.
    """
    session.install("-e", ".[test]")
    for script in ("bench_activation.py", "bench_events.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)


def _with_local_deps(plugin: str) -> list[str]:
    """``plugin`` plus the contrib distributions it requires (they are not on PyPI)."""
    project = tomllib.loads(Path("contrib", plugin, "pyproject.toml").read_text())["project"]
    required = {re.split(r"[^A-Za-z0-9._-]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    return [plugin, *sorted(required & set(CONTRIB))]
