"""The ``jaf-plugins`` command as a person runs it: a subprocess of a fresh virtual
environment holding real installed distributions.

One environment for the module, built with the helpers of ``test_integration_venv`` (no
network, no pip configuration): the host, ``jaf-plugins-weather`` and ``jaf-plugins-greeter``
are installed in it (the README's demo setup, so the README's screens are checked against
it), and the fixtures ``jaf-plugins-broken`` and ``jaf-plugins-badsettings`` are installed
into a separate folder that only the runs asking for them put on ``PYTHONPATH``.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_integration_venv import (
    BROKEN,
    GREETER,
    REPO,
    TIMEOUT,
    WEATHER,
    Venv,
    copy_source,
    offline_venv,
)

pytestmark = pytest.mark.integration

BADSETTINGS = REPO / "tests" / "fixtures" / "jaf-plugins-badsettings"
README = REPO / "README.md"
MARKER_ENV = "JAF_BADSETTINGS_IMPORT_MARKER"


@dataclass
class Demo:
    venv: Venv
    extras: Path
    """Where the broken fixtures are installed (``pip install --target``)."""
    home: Path
    """The working directory of every run: no ``.env`` or settings file in it."""

    def jaf(
        self, *args: str, fixtures: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(self.venv.env)
        if fixtures:
            environment["PYTHONPATH"] = str(self.extras)
        environment.update(env or {})
        return subprocess.run(
            [str(self.venv.bin / "jaf-plugins"), *args],
            cwd=self.home,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    base = tmp_path_factory.mktemp("cli")
    sources = {
        "jaf-plugins": copy_source(REPO, base / "src" / "jaf-plugins"),
        "jaf-plugins-weather": copy_source(WEATHER, base / "src" / "jaf-plugins-weather"),
        "jaf-plugins-greeter": copy_source(GREETER, base / "src" / "jaf-plugins-greeter"),
        "jaf-plugins-broken": copy_source(BROKEN, base / "src" / "jaf-plugins-broken"),
        "jaf-plugins-badsettings": copy_source(BADSETTINGS, base / "src" / "badsettings"),
    }
    venv = offline_venv(base, sources)
    venv.install("jaf-plugins", "jaf-plugins-weather", "jaf-plugins-greeter")
    extras = base / "extras"
    venv.pip(
        "install",
        "--no-index",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(extras),
        sources["jaf-plugins-broken"],
        sources["jaf-plugins-badsettings"],
    )
    home = base / "home"
    home.mkdir()
    return Demo(venv, extras, home)


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


# -- list ---------------------------------------------------------------------------------------


def test_list_imports_no_plugin_code(demo: Demo, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    env = {MARKER_ENV: str(marker)}

    table = demo.jaf("list", fixtures=True, env=env)
    as_json = demo.jaf("list", "--json", fixtures=True, env=env)

    assert table.returncode == 0, table.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert not marker.exists()  # jaf_plugins_badsettings writes it when imported
    # broken_import raises at import: had it been imported, its error would show.
    assert "JAF_BROKEN_DSN" not in table.stdout + table.stderr + as_json.stdout
    rows = by_name(json.loads(as_json.stdout))
    assert {rows[name]["status"] for name in rows if rows[name]["source"] == "entry-point"} == {
        "discovered"
    }

    loaded = demo.jaf("list", "--load", "--json", fixtures=True, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert marker.read_text().count("imported by process") == 1


def test_list_json_without_loading_field_by_field(demo: Demo) -> None:
    result = demo.jaf("list", "--json", fixtures=True)
    rows = json.loads(result.stdout)

    assert [row["name"] for row in rows] == [
        "core",
        "tools",
        "broken_import",
        "greeter",
        "needs_missing",
        "needs_settings",
        "weather_tools",
    ]
    core = by_name(rows)["core"]
    assert core["source"] == "builtin"
    assert core["status"] == "active"
    assert core["version"] == "0.1.0"
    assert core["distribution"] is None
    assert core["loaded"] is True

    settings = by_name(rows)["needs_settings"]
    assert settings == {
        "name": "needs_settings",
        "version": "0.2.0",
        "description": "A plugin whose required settings are not set (a test fixture for "
        "jaf-plugins)",
        "distribution": "jaf-plugins-badsettings",
        "source": "entry-point",
        "target": "jaf_plugins_badsettings:ApiClientPlugin",
        "status": "discovered",
        "loaded": False,
        "note": None,
        "error": None,
        "fix": None,
        "dependencies": None,
        "hooks": None,
        "tools": None,
        "agents": None,
        "events": None,
        "kinds": None,
    }
    weather = by_name(rows)["weather_tools"]
    assert (weather["distribution"], weather["version"], weather["target"]) == (
        "jaf-plugins-weather",
        "0.1.0",
        "jaf_plugins_weather:WeatherToolPlugin",
    )


def test_list_load_json_field_by_field(demo: Demo) -> None:
    result = demo.jaf("list", "--load", "--json", fixtures=True)
    assert result.returncode == 0, result.stderr
    rows = by_name(json.loads(result.stdout))

    weather = rows["weather_tools"]
    assert weather["status"] == "active"
    assert weather["loaded"] is True
    assert weather["tools"] == ["get_current_weather", "get_weather_forecast"]
    assert weather["agents"] == []
    assert weather["hooks"] == ["get_tools"]
    assert weather["dependencies"] == []
    assert weather["kinds"] == ["tools"]
    assert weather["error"] is None

    greeter = rows["greeter"]
    assert greeter["status"] == "active"
    assert greeter["dependencies"] == ["weather_tools>=0.1", "tools"]
    assert set(greeter["hooks"]) >= {"initialize", "get_tools", "on_event"}
    assert greeter["tools"] == ["greet"]
    assert greeter["events"] == ["*"]
    assert greeter["kinds"] == ["tools", "events"]

    broken = rows["broken_import"]
    assert broken["status"] == "failed"
    assert broken["loaded"] is False
    assert broken["hooks"] is None  # never imported: unknown, not empty
    assert broken["error"].startswith("plugin 'broken_import' (distribution 'jaf-plugins-broken')")
    assert "RuntimeError: JAF_BROKEN_DSN is not configured" in broken["error"]
    assert broken["fix"] is not None and broken["error"].endswith(broken["fix"])

    needy = rows["needs_missing"]
    assert needy["status"] == "failed"
    assert needy["dependencies"] == ["no_such_plugin>=1.0"]
    assert "requires 'no_such_plugin', which is not loaded" in needy["error"]

    settings = rows["needs_settings"]
    assert settings["status"] == "failed"
    assert settings["hooks"] == ["get_tools", "initialize"]
    assert settings["tools"] == []
    assert "invalid settings: endpoint is required but not set" in settings["error"]

    # Plain progress lines on stderr (not a terminal), one per plugin started.
    assert "starting 4 plugins" in result.stderr  # broken_import never imported
    assert re.search(r"\[\d/4\] weather_tools: active", result.stderr)
    assert "Traceback" not in result.stderr


def test_list_table_shows_disabled_plugins_with_their_note(demo: Demo) -> None:
    result = demo.jaf("--block", "greeter", "list", fixtures=True)

    lines = result.stdout.splitlines()
    greeter = next(line for line in lines if line.startswith("greeter "))
    assert greeter.split() == [
        "greeter",
        "0.1.0",
        "jaf-plugins-greeter",
        "entry-point",
        "?",
        "disabled",
    ]
    assert "- greeter: disabled: blocked (JAF_PLUGINS_BLOCK / block=)" in lines


# -- check ----------------------------------------------------------------------------------


def test_check_reports_every_problem_with_its_fix(demo: Demo) -> None:
    result = demo.jaf("check", fixtures=True)

    assert result.returncode == 1
    out = result.stdout
    plugin_lines = out.split("\n\n")[0].splitlines()[1:]  # under "checked N plugins (...)"
    verdicts = {
        name: verdict for name, _version, verdict in (line.split(None, 2) for line in plugin_lines)
    }
    assert verdicts == {
        "core": "ok",
        "tools": "ok",
        "broken_import": "import error",
        "greeter": "ok",
        "needs_missing": "missing dependency",
        "needs_settings": "invalid settings",
        "weather_tools": "ok",
    }
    lines = out.splitlines()
    problem = lines.index(
        "! broken_import (jaf-plugins-broken): import error: importing "
        "'jaf_plugins_broken.exploding:ExplodingPlugin' failed: RuntimeError: JAF_BROKEN_DSN "
        "is not configured"
    )
    assert lines[problem + 1] == (
        "  fix: fix the error in the plugin's code; see its traceback: "
        "jaf-plugins info broken_import --verbose"
    )
    missing = lines.index(
        "! needs_missing (jaf-plugins-broken): missing dependency: requires 'no_such_plugin', "
        "which is not loaded"
    )
    assert lines[missing + 1] == (
        "  fix: install or load the plugin 'no_such_plugin', or mark the dependency optional"
    )
    settings = next(line for line in lines if line.startswith("! needs_settings"))
    assert settings == (
        "! needs_settings (jaf-plugins-badsettings): invalid settings: endpoint is required but "
        "not set; api_key is required but not set"
    )
    fix = lines[lines.index(settings) + 1]
    assert "JAF_PLUGINS__NEEDS_SETTINGS__ENDPOINT" in fix
    assert "JAF_PLUGINS__NEEDS_SETTINGS__API_KEY" in fix
    assert lines[-1] == "not healthy: 3 problems"
    assert "Traceback" not in out + result.stderr


def test_check_json_and_an_invalid_value_from_the_environment(demo: Demo) -> None:
    env = {
        "JAF_PLUGINS__NEEDS_SETTINGS__ENDPOINT": "https://api.example",
        "JAF_PLUGINS__NEEDS_SETTINGS__API_KEY": "s3cret-value",
        "JAF_PLUGINS__NEEDS_SETTINGS__RETRIES": "many",
    }
    result = demo.jaf("check", "--json", fixtures=True, env=env)

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert report["started"] is False
    problems = {p["plugin"]: p for p in report["problems"]}
    assert set(problems) == {"broken_import", "needs_missing", "needs_settings"}
    settings = problems["needs_settings"]
    assert settings["kind"] == "invalid settings"
    assert settings["distribution"] == "jaf-plugins-badsettings"
    assert settings["message"].startswith(
        "invalid settings: retries from environment variable JAF_PLUGINS__NEEDS_SETTINGS__RETRIES"
    )
    assert (
        settings["fix"] == "set JAF_PLUGINS__NEEDS_SETTINGS__RETRIES to a valid value, or unset it"
    )
    assert problems["broken_import"]["kind"] == "import error"
    assert problems["broken_import"]["traceback"] is None  # only with --verbose
    assert "s3cret-value" not in result.stdout + result.stderr


def test_check_is_healthy_once_settings_are_given(demo: Demo) -> None:
    env = {
        "JAF_PLUGINS__NEEDS_SETTINGS__ENDPOINT": "https://api.example",
        "JAF_PLUGINS__NEEDS_SETTINGS__API_KEY": "s3cret-value",
        "JAF_PLUGINS_BLOCK": "broken_import,needs_missing",
    }
    static = demo.jaf("check", fixtures=True, env=env)
    started = demo.jaf("check", "--activate", fixtures=True, env=env)

    assert static.returncode == 0, static.stdout
    assert started.returncode == 0, started.stdout
    assert "healthy: 7 plugins, no problems" in started.stdout
    assert re.search(r"(?m)^  broken_import +0\.3\.1 +disabled$", started.stdout)


def test_check_verbose_shows_the_traceback(demo: Demo) -> None:
    result = demo.jaf("check", "--verbose", fixtures=True)

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stdout
    assert 'raise RuntimeError("JAF_BROKEN_DSN is not configured")' in result.stdout


# -- info -------------------------------------------------------------------------------------


def test_info_shows_settings_with_their_variables_and_never_a_secret(demo: Demo) -> None:
    env = {"JAF_PLUGINS__NEEDS_SETTINGS__API_KEY": "s3cret-value"}
    text = demo.jaf("info", "needs_settings", fixtures=True, env=env)
    as_json = demo.jaf("info", "needs_settings", "--json", fixtures=True, env=env)

    assert text.returncode == 0, text.stderr
    assert "s3cret-value" not in text.stdout + text.stderr + as_json.stdout
    data = json.loads(as_json.stdout)
    assert data["status"] == "failed"
    assert data["error"] == "invalid settings: endpoint is required but not set"
    fields = {field["name"]: field for field in data["settings"]["fields"]}
    assert fields["api_key"] == {
        "name": "api_key",
        "type": "SecretStr",
        "required": True,
        "default": None,
        "description": "Key sent with every request",
        "secret": True,
        "env": "JAF_PLUGINS__NEEDS_SETTINGS__API_KEY",
        "set": True,
        "source": "environment variable JAF_PLUGINS__NEEDS_SETTINGS__API_KEY",
    }
    assert fields["endpoint"]["set"] is False and fields["endpoint"]["value"] is None
    assert fields["retries"]["value"] == 3 and fields["retries"]["default"] == 3
    assert data["tools"] is None  # it did not start: unknown

    lines = text.stdout.splitlines()
    row = next(line for line in lines if line.strip().startswith("api_key"))
    assert row.split()[:4] == [
        "api_key",
        "SecretStr",
        "yes",
        "JAF_PLUGINS__NEEDS_SETTINGS__API_KEY",
    ]
    assert row.split()[4] == "set"
    assert "error: invalid settings: endpoint is required but not set" in lines


def test_info_unknown_plugin_is_one_error_line_with_a_fix(demo: Demo) -> None:
    result = demo.jaf("info", "no_such")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: no plugin named 'no_such'",
        "  fix: use one of: core, greeter, tools, weather_tools (jaf-plugins list)",
    ]


# -- tool and trace ---------------------------------------------------------------------------


def test_tool_calls_an_installed_plugins_tool(demo: Demo) -> None:
    result = demo.jaf(
        "-q", "tool", "get_weather_forecast", "--args", '{"location": "Oslo", "days": 2}'
    )

    assert result.returncode == 0, result.stderr
    forecast = json.loads(result.stdout)
    assert forecast["location"] == "Oslo"
    assert [day["day"] for day in forecast["forecast"]] == [0, 1]
    assert result.stderr == ""


def test_tool_with_invalid_arguments_says_which_field(demo: Demo) -> None:
    result = demo.jaf("-q", "tool", "get_weather_forecast", "-a", "location=Oslo", "-a", "days=99")

    assert result.returncode == 1
    error, fix = result.stderr.splitlines()
    assert error.startswith("error: plugin 'weather_tools': tool 'get_weather_forecast': ")
    assert "field 'days'" in error
    assert fix.startswith("  fix: ")


def test_trace_prints_every_hook_call(demo: Demo) -> None:
    result = demo.jaf("-q", "tool", "greet", "-a", "name=Ada", env={"JAF_PLUGINS_TRACE": "1"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Welcome, Ada! It is ")
    trace = [line for line in result.stderr.splitlines() if line.startswith("trace ")]
    assert any(
        re.fullmatch(r"trace greeter\.initialize\(context=<PluginContext 'greeter'>\) [\d.]+ ms", t)
        for t in trace
    ), trace
    assert any(t.startswith("trace weather_tools.get_tools() ") for t in trace), trace


# -- the README's screens -------------------------------------------------------------------


def readme_screens() -> list[tuple[dict[str, str], list[str], bool, str]]:
    """``(environment, arguments, with fixtures, expected stdout)`` for each ``console``
    block of the README's CLI section: a ``$ [VAR=value ...] jaf-plugins ...`` line, then
    its output. A block right after ``<!-- with the test fixtures -->`` runs with them."""
    text = README.read_text()
    section = text[text.index("## The jaf-plugins command") :]
    section = section[: section.index("\n## ", 1)]
    screens = []
    blocks = re.finditer(
        r"(<!-- with the test fixtures -->\n)?```console\n(.*?)```", section, re.DOTALL
    )
    for match in blocks:
        fixtures, body = match.group(1) is not None, match.group(2)
        command, _, output = body.partition("\n")
        words = shlex.split(command.removeprefix("$ "))
        assignments = list(itertools.takewhile(re.compile(r"[A-Z_][A-Z0-9_]*=").match, words))
        env = dict(word.split("=", 1) for word in assignments)
        args = words[len(assignments) :]
        assert args[0] == "jaf-plugins", command
        screens.append((env, args[1:], fixtures, output))
    return screens


def without_location(output: str) -> str:
    """The ``location`` line of ``info`` depends on where the environment is."""
    return re.sub(r"(?m)^(location +).*$", r"\1...", output)


def test_readme_screens_are_real_output(demo: Demo) -> None:
    screens = readme_screens()
    shown = {" ".join(args) for _, args, _, _ in screens}
    assert {"list", "list --load", "info greeter", "check", "graph"} <= shown

    for env, args, fixtures, expected in screens:
        result = demo.jaf(*args, fixtures=fixtures, env=env)
        assert without_location(result.stdout) == without_location(expected), (
            f"the README's screen of `jaf-plugins {' '.join(args)}` is not what it prints now"
        )
