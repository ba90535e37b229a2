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
    """The whole test suite, on each of Python 3.10-3.13 found (missing ones are skipped).

    With pyenv only one Python is on PATH; make all four visible with
    PYENV_VERSION=3.11.7:3.10.13:3.12.1:3.13.0 nox -s tests
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and types: ruff check, ruff format --check, mypy --strict on jaf_plugins/."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
@nox.parametrize("plugin", CONTRIB)
def contrib(session: nox.Session, plugin: str) -> None:
    """One contrib plugin alone in its own venv with the host: its tests and conformance.

    The contrib plugins it requires are installed too (they are not on PyPI).
    """
    _install_host_and(session, [plugin])
    session.run("python", "-m", "pytest", f"contrib/{plugin}/tests", *session.posargs)


@nox.session
def matrix(session: nox.Session) -> None:
    """All contrib plugins installed together: every one's tests and conformance suite.

    Catches plugins that only work alone (name or tool clashes, conflicting requirements).
    """
    _install_host_and(session, CONTRIB)
    session.run("python", "-m", "pip", "check")
    session.run("python", "-m", "pytest", *(f"contrib/{name}/tests" for name in CONTRIB))


@nox.session
@nox.parametrize("resolution", ["lowest", "highest"])
def deps(session: nox.Session, resolution: str) -> None:
    """The host's tests against the oldest and the newest dependency versions allowed.

    "lowest" pins every ``>=`` floor of pyproject.toml exactly (pluggy, anyio, pydantic,
    pydantic-settings, packaging, click, watchfiles): those floors must really work.
    """
    session.install("-e", ".[test]")
    if resolution == "lowest":
        # pytest >= 8.4 needs pluggy >= 1.6, and trio releases after anyio 4.4 drop APIs it
        # uses: the test tools are pinned back to versions of that time as well.
        session.install(*_floors(), "pytest==8.3.5", "trio==0.25.1")
    else:
        session.install("--upgrade", *(name for name, _ in _floor_pairs()))
    session.run("python", "-m", "pip", "list")
    # Lint and types run in the lint session; old click has untyped decorators.
    session.run(
        "python", "-m", "pytest", "-m", "not integration", "--deselect", "tests/test_quality.py"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks: print ratios; exit 1 only on a correctness failure.

    Arguments after ``--`` go to every script, so pass only the options all of them take
    (``--backend``, ``--repeat``), e.g. ``nox -s bench -- --backend trio``.
    """
    session.install("-e", ".[test]")
    for script in ("bench_activation.py", "bench_events.py", "bench_reload.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)


def _install_host_and(session: nox.Session, plugins: list[str]) -> None:
    # Two steps: pip < 24 does not let an editable ``.[test]`` satisfy another local
    # distribution's ``jaf-plugins>=0.1`` in the same command.
    session.install("-e", ".[test]")
    session.install(*_contrib_requirements(plugins))


def _contrib_requirements(plugins: list[str]) -> list[str]:
    """``plugins`` with their test extras, plus the contrib distributions they require
    (those are not on PyPI), as pip arguments."""
    wanted = set(plugins)
    todo = list(plugins)
    while todo:
        project = tomllib.loads(Path("contrib", todo.pop(), "pyproject.toml").read_text())
        for dependency in project["project"]["dependencies"]:
            name = re.split(r"[^A-Za-z0-9._-]", dependency, maxsplit=1)[0]
            if name in CONTRIB and name not in wanted:
                wanted.add(name)
                todo.append(name)
    return [
        f"./contrib/{name}[test]" if name in plugins else f"./contrib/{name}"
        for name in sorted(wanted)
    ]


def _floor_pairs() -> list[tuple[str, str]]:
    """(name, lowest version) for every ``name>=version`` runtime dependency of the host."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    pairs = []
    for dependency in project["dependencies"]:
        requirement, _, marker = dependency.partition(";")
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9][^,\s]*)\s*", requirement)
        if match and not marker.strip():
            pairs.append((match.group(1), match.group(2)))
    return pairs


def _floors() -> list[str]:
    return [f"{name}=={version}" for name, version in _floor_pairs()]
