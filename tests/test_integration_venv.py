"""End to end in a fresh virtual environment: pip-installed plugins are found, started and
reported with no code change, and uninstalling one is seen by the next process.

No network: the venv is created without pip, and sees only the host's runtime
dependencies plus the build tools, taken from the environment running the tests (see
``isolated_dependencies``). Every ``pip`` call runs with ``--no-index`` and with pip's
configuration files switched off, so a machine-wide ``find-links``/``extra-index-url`` or
constraints file cannot change what is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BROKEN = REPO / "tests" / "fixtures" / "jaf-plugins-broken"
WEATHER = REPO / "contrib" / "jaf-plugins-weather"
GREETER = REPO / "contrib" / "jaf-plugins-greeter"
BUILD_TOOLS = ("pip", "setuptools", "wheel")
"""Needed inside the venv to ``pip install --no-build-isolation``; ``wheel`` only where it
is installed (setuptools < 70.1 needs it for ``bdist_wheel``)."""
TIMEOUT = 180


# -- building the environment ---------------------------------------------------------------


def dependency_closure(requirements: Iterable[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions needed by ``requirements``, transitively.

    Requirements whose markers do not apply here (other Pythons, extras nobody asked for)
    are skipped.
    """
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(text), "") for text in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[key] = dist
        for wanted_extra in ("", *requirement.extras):
            todo += [(Requirement(text), wanted_extra) for text in dist.requires or []]
    return found


def top_level_entries(dist: metadata.Distribution) -> set[Path]:
    """The files and folders ``dist`` put directly in its site-packages: its import
    packages, single-file modules and its ``.dist-info``, from its RECORD."""
    entries: set[Path] = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith(".pth"):
            continue  # console scripts, bytecode of single-file modules, startup hooks
        entries.add(Path(str(dist.locate_file(first))))
    if not entries:
        raise RuntimeError(f"{dist.metadata['Name']} has no RECORD; cannot isolate it")
    return entries


def isolated_dependencies(target: Path, also: Iterable[str] = ()) -> list[str]:
    """Symlink into ``target`` the host's runtime dependency closure and the build tools
    (and the closure of the requirements ``also`` names).

    Putting the whole outer site-packages on the venv's path would also bring in whatever
    plugins are installed there (the contrib plugins, in the dev environment), and the
    editable ``jaf-plugins`` install: the venv would then not show what pip installed into
    it. Returns the distribution names linked.
    """
    host = metadata.distribution("jaf-plugins")
    roots = [*(host.requires or []), "pip", "setuptools", *also]
    try:
        metadata.distribution("wheel")
        roots.append("wheel")
    except metadata.PackageNotFoundError:
        pass
    closure = dependency_closure(roots)
    target.mkdir()
    for dist in closure.values():
        for entry in top_level_entries(dist):
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry, target_is_directory=entry.is_dir())
    return sorted(closure)


def copy_source(source: Path, destination: Path) -> Path:
    """setuptools builds in the source tree (``build/``, ``*.egg-info``): build from copies so
    the repository stays untouched."""
    shutil.copytree(
        source,
        destination,
        ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "build", "dist", "*.egg-info", ".*", "tests", "contrib"
        ),
    )
    return destination


@dataclass
class Venv:
    root: Path
    sources: dict[str, Path]
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(arg) for arg in args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, args))} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def pip(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-m", "pip", *args)

    def install(self, *projects: str) -> None:
        self.pip(
            "install",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            *(self.sources[project] for project in projects),
        )

    def plugins(self) -> dict[str, Any]:
        """Run a host in a new process of the venv; what it reports, keyed by plugin name."""
        result = self.run(self.python, self.root / "list_plugins.py")
        report = json.loads(result.stdout)
        assert Path(report["host"]).is_relative_to(self.root), report["host"]
        return {info["name"]: info for info in report["plugins"]}


LIST_PLUGINS = """
    import json

    import anyio

    import jaf_plugins
    from jaf_plugins import PluginManager


    async def main() -> None:
        async with PluginManager() as pm:
            plugins = [info.to_dict() for info in pm.list_plugins()]
        print(json.dumps({"host": jaf_plugins.__file__, "plugins": plugins}))


    anyio.run(main)
"""


def subprocess_env(venv: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JAF_PLUGINS_", "PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PYTHONNOUSERSITE="1",
        PIP_CONFIG_FILE=os.devnull,  # ignore /etc/pip.conf & co: no indexes, no constraints
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        # The discovery cache is on, as for users, but kept beside the venv.
        JAF_PLUGINS_CACHE_DIR=str(venv.parent / "discovery-cache"),
    )
    return env


def offline_venv(base: Path, sources: dict[str, Path], also: Iterable[str] = ()) -> Venv:
    """A fresh venv in ``base/venv`` that sees only the host's dependency closure (and that
    of ``also``), linked from the environment running the tests; nothing installed yet."""
    deps = base / "deps"
    isolated_dependencies(deps, also)
    root = base / "venv"
    # Without pip: ensurepip takes seconds, and pip comes from the linked build tools.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=TIMEOUT
    )
    venv = Venv(root, sources, subprocess_env(root))
    purelib = venv.run(
        venv.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"
    ).stdout.strip()
    (Path(purelib) / "_jaf_test_deps.pth").write_text(
        f"import site; site.addsitedir({str(deps)!r})\n"
    )
    (root / "list_plugins.py").write_text(textwrap.dedent(LIST_PLUGINS))
    return venv


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    base = tmp_path_factory.mktemp("integration")
    sources = {
        "jaf-plugins": copy_source(REPO, base / "src" / "jaf-plugins"),
        "jaf-plugins-weather": copy_source(WEATHER, base / "src" / "jaf-plugins-weather"),
        "jaf-plugins-greeter": copy_source(GREETER, base / "src" / "jaf-plugins-greeter"),
        "jaf-plugins-broken": copy_source(BROKEN, base / "src" / "jaf-plugins-broken"),
    }
    created = offline_venv(base, sources)
    # The host itself is installed, not linked: its console script comes from its
    # [project.scripts], and what runs is what its wheel ships.
    created.install(
        "jaf-plugins", "jaf-plugins-weather", "jaf-plugins-greeter", "jaf-plugins-broken"
    )
    return created


# -- what a user sees -----------------------------------------------------------------------


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The demo's plugin table: name -> [version, distribution, source, status]."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["PLUGIN", "VERSION"])
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) != 5 or cells[0] == "!":
            break
        rows[cells[0]] = cells[1:]
    return rows


def test_demo_console_script_runs_installed_plugins(venv: Venv) -> None:
    result = venv.run(venv.bin / "jaf-plugins", "demo")
    out = result.stdout

    assert table_rows(out) == {
        "core": ["0.1.0", "-", "builtin", "active"],
        "tools": ["0.1.0", "-", "builtin", "active"],
        "broken_import": ["0.3.1", "jaf-plugins-broken", "entry-point", "failed"],
        "greeter": ["0.1.0", "jaf-plugins-greeter", "entry-point", "active"],
        "needs_missing": ["0.3.1", "jaf-plugins-broken", "entry-point", "failed"],
        "weather_tools": ["0.1.0", "jaf-plugins-weather", "entry-point", "active"],
    }
    reasons = [line.strip() for line in out.splitlines() if line.strip().startswith("! ")]
    assert len(reasons) == 2
    assert reasons[0].startswith("! plugin 'broken_import' (distribution 'jaf-plugins-broken'): ")
    assert "RuntimeError: JAF_BROKEN_DSN is not configured" in reasons[0]
    assert reasons[1].startswith("! plugin 'needs_missing' (distribution 'jaf-plugins-broken'): ")
    assert "requires 'no_such_plugin', which is not loaded" in reasons[1]

    call = "calling tool 'get_current_weather' (from plugin 'weather_tools') with "
    assert f"{call}{{'location': 'Paris'}}" in out
    tool_line = next(line for line in out.splitlines() if line.strip().startswith("-> {"))
    weather = json.loads(tool_line.strip().removeprefix("-> "))
    assert weather["location"] == "Paris"
    greeting = f"Welcome, Ada! It is {weather['condition']} in Paris today."
    assert f"handled by greeter (on_event) -> {greeting!r}" in out

    assert "deactivated in reverse dependency order: greeter, weather_tools" in out
    assert "clean shutdown" in out
    # The two broken plugins were logged when they failed, and nothing else went wrong.
    logged = [line for line in result.stderr.splitlines() if "log ERROR" in line]
    assert logged, result.stderr
    assert all("broken_import" in line or "needs_missing" in line for line in logged)
    assert "Traceback" not in result.stderr


def test_console_script_reports_the_installed_version(venv: Venv) -> None:
    result = venv.run(venv.bin / "jaf-plugins", "--version")
    assert "0.1.0" in result.stdout


def test_plugin_manager_reports_installed_distributions(venv: Venv) -> None:
    plugins = venv.plugins()

    assert list(plugins) == [
        "core",
        "tools",
        "broken_import",
        "greeter",
        "needs_missing",
        "weather_tools",
    ]
    for name in ("core", "tools"):
        assert plugins[name]["source"] == "builtin"
        assert plugins[name]["status"] == "active"
        assert plugins[name]["version"] == "0.1.0"
        assert plugins[name]["distribution"] is None

    weather = plugins["weather_tools"]
    assert weather["status"] == "active"
    assert weather["distribution"] == "jaf-plugins-weather"
    assert weather["version"] == "0.1.0"
    assert weather["source"] == "entry-point"
    assert weather["target"] == "jaf_plugins_weather:WeatherToolPlugin"
    assert weather["tools"] == ["get_current_weather", "get_weather_forecast"]
    assert weather["error"] is None

    greeter = plugins["greeter"]
    assert greeter["status"] == "active"
    assert greeter["distribution"] == "jaf-plugins-greeter"
    assert greeter["version"] == "0.1.0"
    assert greeter["target"] == "jaf_plugins_greeter"
    assert greeter["dependencies"] == ["weather_tools>=0.1", "tools"]
    assert set(greeter["hooks"]) >= {"initialize", "get_tools", "on_event"}
    assert greeter["tools"] == ["greet"]
    assert greeter["error"] is None

    exploded = plugins["broken_import"]
    assert exploded["status"] == "failed"
    assert exploded["distribution"] == "jaf-plugins-broken"
    assert exploded["version"] == "0.3.1"  # never imported: the distribution's version
    assert exploded["target"] == "jaf_plugins_broken.exploding:ExplodingPlugin"
    assert exploded["error"].startswith(
        "plugin 'broken_import' (distribution 'jaf-plugins-broken'): "
    )
    assert "RuntimeError: JAF_BROKEN_DSN is not configured" in exploded["error"]

    needy = plugins["needs_missing"]
    assert needy["status"] == "failed"
    assert needy["distribution"] == "jaf-plugins-broken"
    assert needy["version"] == "0.3.1"  # the plugin sets none: the distribution's
    assert needy["dependencies"] == ["no_such_plugin>=1.0"]
    assert needy["error"].startswith("plugin 'needs_missing' (distribution 'jaf-plugins-broken'): ")
    assert "requires 'no_such_plugin', which is not loaded" in needy["error"]
    assert "Fix: install or load the plugin 'no_such_plugin'" in needy["error"]


def test_uninstalling_and_reinstalling_a_plugin_needs_no_code_change(venv: Venv) -> None:
    """With the discovery cache warm, pip's changes are still seen by the next process."""
    assert venv.plugins()["greeter"]["status"] == "active"
    cache = Path(venv.env["JAF_PLUGINS_CACHE_DIR"])
    assert [p.name for p in cache.glob("entry-points-*.marshal")], "the cache was not written"
    try:
        venv.pip("uninstall", "-y", "jaf-plugins-greeter")
        plugins = venv.plugins()
        assert "greeter" not in plugins
        assert plugins["weather_tools"]["status"] == "active"
    finally:
        venv.install("jaf-plugins-greeter")
    plugins = venv.plugins()
    assert plugins["greeter"]["status"] == "active"
    assert plugins["greeter"]["distribution"] == "jaf-plugins-greeter"
