"""``jaf-plugins new``: the project it writes installs, is found by the host through its entry
point, lints clean, and its own tests (conformance suite included) pass.

The unit tests render into ``tmp_path`` and import the result in this process; the
integration test at the end installs it with pip into a fresh virtual environment (offline,
as ``tests/test_integration_venv.py`` does) and runs the project's test suite there.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from packaging.version import Version
from test_integration_venv import (
    TIMEOUT,
    Venv,
    copy_source,
    offline_venv,
)

import jaf_plugins
from jaf_plugins import PluginManager, PluginStatus
from jaf_plugins._template import FILES, parse_name
from jaf_plugins.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "jaf_plugins" / "templates" / "plugin"
HOST = Version(jaf_plugins.__version__)

EXPECTED_FILES = {
    "pyproject.toml",
    "README.md",
    ".gitignore",
    ".github/workflows/ci.yml",
    "jaf_plugins_acme_weather/__init__.py",
    "jaf_plugins_acme_weather/py.typed",
    "tests/test_acme_weather.py",
}


def new(*args: str) -> tuple[int, str]:
    """Run ``jaf-plugins new ARGS`` in this process; its exit status and output."""
    result = CliRunner().invoke(main, ["new", *args], prog_name="jaf-plugins")
    return result.exit_code, result.output


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``jaf-plugins new acme-weather`` run in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    code, output = new("acme-weather")
    assert code == 0, output
    return tmp_path / "jaf-plugins-acme-weather"


# -- what it writes ---------------------------------------------------------------------------


def test_new_creates_the_project_and_prints_next_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = new("acme-weather")

    assert code == 0, output
    assert os.listdir(tmp_path) == ["jaf-plugins-acme-weather"]
    assert files_under(tmp_path / "jaf-plugins-acme-weather") == EXPECTED_FILES
    assert "for the plugin 'acme_weather'" in output
    assert "Next steps:" in output
    assert "cd jaf-plugins-acme-weather" in output
    assert "pip install -e '.[test]'" in output
    assert "python -m pytest" in output


def test_pyproject_declares_the_entry_point_classifier_and_extras(project: Path) -> None:
    document = tomllib.loads((project / "pyproject.toml").read_text())
    meta = document["project"]

    assert document["build-system"]["build-backend"] == "setuptools.build_meta"
    assert meta["name"] == "jaf-plugins-acme-weather"
    assert meta["dependencies"] == [f"jaf-plugins>={HOST.major}.{HOST.minor}"]
    assert "Framework :: JAF :: Plugins" in meta["classifiers"]
    assert meta["entry-points"]["jaf.plugins"] == {
        "acme_weather": "jaf_plugins_acme_weather:AcmeWeatherPlugin"
    }
    extras = [name.partition(">")[0] for name in meta["optional-dependencies"]["test"]]
    assert extras == ["pytest", "anyio", "trio"]
    assert meta["dynamic"] == ["version"]
    setuptools = document["tool"]["setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "jaf_plugins_acme_weather.__version__"}
    assert setuptools["package-data"] == {"jaf_plugins_acme_weather": ["py.typed"]}


def test_ci_runs_the_tests_on_every_supported_python(project: Path) -> None:
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()

    assert 'python-version: ["3.10", "3.11", "3.12", "3.13"]' in workflow
    assert "python-version: ${{ matrix.python-version }}" in workflow  # `$$` rendered as `$`
    assert "pip install -e .[test]" in workflow
    assert "run: python -m pytest" in workflow


def test_readme_names_what_a_user_types(project: Path) -> None:
    readme = (project / "README.md").read_text()

    for text in (
        "pip install jaf-plugins-acme-weather",
        "`JAF_PLUGINS__ACME_WEATHER__GREETING`",
        "[plugins.acme_weather]",
        "`acme_weather_greet`",
        "python -m pytest",
        "twine upload dist/*",
    ):
        assert text in readme


def test_generated_tests_subclass_the_conformance_suite(project: Path) -> None:
    tests = (project / "tests" / "test_acme_weather.py").read_text()

    assert "class TestConformance(PluginConformance):" in tests
    assert 'PLUGIN = "acme_weather"' in tests
    assert "jaf_host(PLUGIN)" in tests and "call_tool(" in tests


def test_generated_project_is_ruff_clean(project: Path) -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_template_file_is_rendered() -> None:
    assert {p.name for p in TEMPLATE.iterdir()} == {source for source, _ in FILES}


# -- the generated plugin, in this process ----------------------------------------------------


@pytest.mark.anyio
async def test_generated_plugin_loads_activates_and_reads_its_settings(
    project: Path, monkeypatch: pytest.MonkeyPatch, make_site: Callable[[], Any]
) -> None:
    make_site()  # only for its teardown: drops the modules imported from tmp_path
    monkeypatch.syspath_prepend(str(project))
    module = importlib.import_module("jaf_plugins_acme_weather")
    assert module.__version__ == "0.1.0"
    monkeypatch.setenv("JAF_PLUGINS__ACME_WEATHER__GREETING", "Hey")  # as the README says

    pm = PluginManager(autoload=False)
    plugin = await pm.load_plugin("acme_weather", module.AcmeWeatherPlugin())
    try:
        assert await pm.activate_plugin("acme_weather"), pm.get_error("acme_weather")
        assert pm.get_status("acme_weather") is PluginStatus.ACTIVE
        assert plugin.metadata.name == "acme_weather"
        info = pm.get_info("acme_weather")
        assert info is not None
        assert (info.version, info.description) == ("0.1.0", "Acme Weather tools for JAF agents")
        assert list(info.tools) == ["acme_weather_greet"]
        tool = pm.get_tool("acme_weather_greet")
        assert tool is not None and tool.plugin == "acme_weather"
        assert tool(name="Ada", times=2) == "Hey, Ada! Hey, Ada!"
        assert tool.description == "Greet someone by name with the configured greeting."
        assert set(tool.json_schema["parameters"]["properties"]) == {"name", "times"}
    finally:
        await pm.deactivate_all()


def test_generated_test_suite_passes_in_process(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_site: Callable[[], Any],
    pytester: pytest.Pytester,
) -> None:
    """The project's own tests, against the plugin "installed" as a dist-info on sys.path
    (the integration test below does it with pip)."""
    site = make_site()
    site.distribution(
        "jaf-plugins-acme-weather",
        "0.1.0",
        {"acme_weather": "jaf_plugins_acme_weather:AcmeWeatherPlugin"},
    )
    monkeypatch.syspath_prepend(str(project))

    result = pytester.runpytest(str(project / "tests"), "-p", "no:cacheprovider")

    # 6 conformance checks and 2 async tests, on asyncio and trio, and 1 sync test
    result.assert_outcomes(passed=17)


# -- invalid input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("acme-weather", ("jaf-plugins-acme-weather", "acme_weather", "AcmeWeatherPlugin")),
        ("acme_weather", ("jaf-plugins-acme-weather", "acme_weather", "AcmeWeatherPlugin")),
        ("jaf-plugins-acme-weather", ("jaf-plugins-acme-weather", "acme_weather", "AcmeWeatherPlugin")),  # noqa: E501
        ("s3", ("jaf-plugins-s3", "s3", "S3Plugin")),
        ("crm-plugin", ("jaf-plugins-crm-plugin", "crm_plugin", "CrmPlugin")),
    ],
)  # fmt: skip
def test_names(name: str, expected: tuple[str, str, str]) -> None:
    project = parse_name(name)
    assert (project.distribution, project.plugin_name, project.class_name) == expected
    assert project.package == project.distribution.replace("-", "_")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Acme-Weather", "it has upper-case letters (did you mean 'acme-weather'?)"),
        ("1acme", "it must start with a letter"),
        ("acme.weather", "'.' cannot be part of a Python package name"),
        ("acme weather", "it has characters other than letters, digits, '-' and '_'"),
        ("acme--weather", "words must be separated by one '-' or '_'"),
        ("acme-", "words must be separated by one '-' or '_'"),
        ("core", "'core' is the name of a plugin built into the host"),
        ("tools", "'tools' is the name of a plugin built into the host"),
        ("jaf-plugins-", "it is empty"),
        ("a" * 41, "longer than 40 characters"),
    ],
)
def test_invalid_names_are_refused_and_nothing_is_written(
    name: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = new(name)

    assert code == 2, output  # a usage error
    message = " ".join(output.replace("'NAME'", "NAME").split())  # quoted by click < 8.2
    assert f"Invalid value for NAME: invalid plugin name {name!r}: {reason}" in message
    assert os.listdir(tmp_path) == []


def test_an_existing_non_empty_directory_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    existing = tmp_path / "jaf-plugins-acme-weather"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")

    code, output = new("acme-weather")

    assert code == 1, output
    assert "Error: jaf-plugins-acme-weather already exists and is not empty" in output
    assert "nothing was written" in output
    assert files_under(existing) == {"notes.txt"}
    assert (existing / "notes.txt").read_text() == "mine"

    code, output = new("acme-weather", "--directory", str(existing))
    assert code == 1 and "already exists and is not empty" in output
    assert files_under(existing) == {"notes.txt"}


def test_directory_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    code, output = new("acme-weather", "--directory", "empty")
    assert code == 0, output
    assert files_under(tmp_path / "empty") == EXPECTED_FILES

    code, output = new("acme-weather", "--directory", "nested/deeper")
    assert code == 0, output
    assert files_under(tmp_path / "nested" / "deeper") == EXPECTED_FILES

    (tmp_path / "a-file").write_text("")
    code, output = new("acme-weather", "--directory", "a-file")
    assert code != 0 and "a-file" in output and "is a file" in output


# -- integration: pip-installed into a fresh venv ---------------------------------------------


def run(venv: Venv, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run in the venv's environment, from ``cwd``, with no outer pytest settings."""
    env = {k: v for k, v in venv.env.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Venv, Path]:
    """A venv with the host (installed from a copy of this repository), and the project
    ``jaf-plugins new acme-weather`` wrote with that installed host, pip-installed with its
    ``test`` extra. Returns the venv and the project's folder."""
    base = tmp_path_factory.mktemp("template")
    host = copy_source(REPO, base / "src" / "jaf-plugins")
    # The project's tests need its `test` extra too: pytest, anyio, trio and theirs.
    venv = offline_venv(base, {"jaf-plugins": host}, also=["pytest", "anyio", "trio"])
    venv.install("jaf-plugins")

    # The installed host's command, so the template comes from its wheel (package data).
    project = base / "jaf-plugins-acme-weather"
    run(venv, venv.bin / "jaf-plugins", "new", "acme-weather", cwd=base)
    assert project.is_dir()
    # Not --no-deps: pip checks offline that the host and the test extra are all there.
    venv.pip("install", "--no-index", "--no-build-isolation", f"{project}[test]")
    return venv, project


@pytest.mark.integration
def test_host_finds_the_installed_plugin_through_its_entry_point(
    installed: tuple[Venv, Path],
) -> None:
    venv, _ = installed
    plugins = venv.plugins()

    assert list(plugins) == ["core", "tools", "acme_weather"]
    plugin = plugins["acme_weather"]
    assert plugin["status"] == "active", plugin["error"]
    assert plugin["source"] == "entry-point"
    assert plugin["distribution"] == "jaf-plugins-acme-weather"
    assert plugin["version"] == "0.1.0"
    assert plugin["target"] == "jaf_plugins_acme_weather:AcmeWeatherPlugin"
    assert plugin["tools"] == ["acme_weather_greet"]
    shipped = venv.run(
        venv.python, "-c", "import jaf_plugins_acme_weather as m; print(m.__file__)"
    ).stdout.strip()
    assert Path(shipped).is_relative_to(venv.root)  # the installed copy, not the source
    assert (Path(shipped).parent / "py.typed").is_file()


@pytest.mark.integration
def test_demo_calls_the_generated_tool(installed: tuple[Venv, Path]) -> None:
    venv, _ = installed
    out = venv.run(venv.bin / "jaf-plugins", "demo").stdout

    assert "calling tool 'acme_weather_greet' (from plugin 'acme_weather')" in out
    assert "-> Hello, Paris!" in out
    assert "clean shutdown" in out


@pytest.mark.integration
def test_generated_test_suite_passes_in_the_venv(installed: tuple[Venv, Path]) -> None:
    venv, project = installed
    result = run(venv, venv.python, "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=project)

    out = result.stdout
    for backend in ("asyncio", "trio"):
        for check in ("test_lifecycle_round_trips", "test_reload_keeps_it_working"):
            assert f"TestConformance::{check}[{backend}] PASSED" in out, out
    summary = out.strip().splitlines()[-1]
    assert "17 passed" in summary and "skipped" not in summary and "failed" not in summary, out
