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
    """Every benchmark, then one table of figures vs targets; exit 1 only on a correctness
    failure (a missed target prints MISSED).

    Arguments after ``--`` go to benchmarks/run_all.py, e.g. ``nox -s bench -- --backend all``
    (asyncio, then trio), ``-- --quick`` (smoke test) or ``-- --only startup tools``.
    """
    session.install("-e", ".[test,bench]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


def _install_host_and(session: nox.Session, plugins: list[str]) -> None:
    """The host, then ``plugins`` (with their test extras) and the contrib distributions
    they require, dependencies first, one pip call each: pip < 24 does not let a local path
    with extras (``.[test]``) satisfy another local distribution's requirement on it in the
    same command."""
    session.install("-e", ".[test]")
    for name in _with_contrib_dependencies(plugins):
        session.install(f"./contrib/{name}[test]" if name in plugins else f"./contrib/{name}")


def _with_contrib_dependencies(plugins: list[str]) -> list[str]:
    """``plugins`` and the contrib distributions they require (not on PyPI), each after the
    ones it requires."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        project = tomllib.loads(Path("contrib", name, "pyproject.toml").read_text())["project"]
        for dependency in project["dependencies"]:
            required = re.split(r"[^A-Za-z0-9._-]", dependency, maxsplit=1)[0]
            if required in CONTRIB:
                visit(required)
        ordered.append(name)

    for plugin in plugins:
        visit(plugin)
    return ordered


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


@nox.session
def interop(session: nox.Session) -> None:
    """Plugin tools and agents run inside jaf-py's engine (tests/test_jaf_interop.py).

    Installs the ``jaf`` extra: jaf-py brings litellm, openai, fastapi and more, too heavy
    for the default sessions, which skip that file.
    """
    session.install("-e", ".[test,jaf]")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_jaf_interop.py",
        *session.posargs,
        # litellm (imported by jaf-py) would otherwise fetch a price list from GitHub.
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
