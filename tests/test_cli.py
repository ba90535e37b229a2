"""The ``jaf-plugins`` command in-process, with click's ``CliRunner`` and plugin directories.

Entry-point autoload is off in the unit tests (``conftest.py``), so each test sees only the
plugins it writes into ``--plugins-dir``; the runs against installed distributions are in
``test_cli_integration.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jaf_plugins import _calling
from jaf_plugins.cli import main

ALPHA = '''
    """Alpha: echoes, and greets users."""
    import pathlib
    import pydantic
    from jaf_plugins import Agent, EventHandler, Plugin, Tool

    MARKER = pathlib.Path(__file__).with_name("alpha.imported")
    MARKER.write_text("imported")


    class Settings(pydantic.BaseModel):
        token: pydantic.SecretStr
        region: str = "eu"
        retries: int = pydantic.Field(3, description="attempts")


    @Tool(name="echo", description="Echo text")
    def echo(text: str, times: int = 1) -> str:
        return text * times


    @Tool(name="total", description="Add numbers")
    async def total(numbers: list[int]) -> dict:
        return {"total": sum(numbers)}


    @Tool(name="explode", description="Always fails")
    def explode() -> str:
        raise RuntimeError("kaboom")


    class AlphaPlugin(Plugin):
        settings_model = Settings
        tools = [echo, total, explode]
        agents = [Agent(name="helper", instructions=lambda state: "help", tools=[echo])]

        def __init__(self):
            super().__init__()
            self.metadata.name = "alpha"
            self.metadata.version = "1.2.0"
            self.metadata.author = "Ada"

        @EventHandler("user.*")
        async def on_user(self, event):
            return "hi"
'''

BETA = """
    from jaf_plugins import Plugin, Tool


    @Tool(name="echo", description="Another echo")
    def echo(text: str) -> str:
        return text.upper()


    class BetaPlugin(Plugin):
        tools = [echo]

        def __init__(self):
            super().__init__()
            self.metadata.name = "beta"
            self.metadata.version = "0.5.0"
            self.metadata.dependencies = ["alpha>=1,<2"]
"""


def plugin_source(name: str, dependencies: list[str], methods: str = "") -> str:
    """A plugin class named ``name`` with ``dependencies`` and extra ``methods``."""
    return (
        "from jaf_plugins import Plugin\n\n\n"
        "class ThePlugin(Plugin):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.metadata.name = {name!r}\n"
        f"        self.metadata.dependencies = {dependencies!r}\n\n"
        + textwrap.indent(textwrap.dedent(methods), "    ")
    )


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in an empty folder (no settings files), forget the plugin modules afterwards,
    and make sure no test leaves a tracer installed."""
    monkeypatch.chdir(tmp_path)
    yield
    base = tmp_path.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(base):
            del sys.modules[name]
    assert _calling._tracer is None


def write_plugins(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, source in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stderr apart by itself
    return runner.invoke(main, [str(arg) for arg in args], env=env, catch_exceptions=False)


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    return write_plugins(tmp_path / "plugins", {"alpha": ALPHA, "beta": BETA})


TOKEN = {"JAF_PLUGINS__ALPHA__TOKEN": "s3cret"}


def rows_of(result: Result) -> dict[str, dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


# -- list ---------------------------------------------------------------------------------------


def test_list_finds_without_importing(healthy: Path) -> None:
    result = run("--plugins-dir", healthy, "list")

    assert result.exit_code == 0, result.stderr
    assert not (healthy / "alpha.imported").exists()
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "DISTRIBUTION", "SOURCE", "KINDS", "STATUS"]
    table = {line.split()[0]: line.split()[1:] for line in lines[2:] if line and line[0] != " "}
    assert table["alpha"] == ["-", "-", "directory", "?", "discovered"]
    assert table["core"] == ["0.1.0", "-", "builtin", "-", "active"]
    assert lines[-1].startswith("discovered: found but not imported; `jaf-plugins list --load`")
    assert result.stderr == ""


def test_list_json_without_loading(healthy: Path) -> None:
    rows = rows_of(run("--plugins-dir", healthy, "list", "--json"))

    assert list(rows) == ["core", "tools", "alpha", "beta"]
    assert rows["alpha"] == {
        "name": "alpha",
        "version": None,
        "description": "",
        "distribution": None,
        "source": "directory",
        "target": str(healthy / "alpha.py"),
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
    assert not (healthy / "alpha.imported").exists()


def test_list_load_imports_starts_and_shows_what_plugins_offer(healthy: Path) -> None:
    result = run("--plugins-dir", healthy, "list", "--load", "--json", env=TOKEN)
    rows = rows_of(result)

    alpha = rows["alpha"]
    assert (alpha["status"], alpha["loaded"], alpha["version"]) == ("active", True, "1.2.0")
    assert alpha["tools"] == ["echo", "total", "explode"]
    assert alpha["agents"] == ["helper"]
    assert alpha["events"] == ["user.*"]
    assert alpha["kinds"] == ["tools", "agents", "events"]
    assert alpha["description"] == "" and alpha["error"] is None
    beta = rows["beta"]
    assert beta["dependencies"] == ["alpha>=1,<2"]
    assert beta["status"] == "active"
    # Not a terminal: one plain progress line per plugin, on stderr only.
    assert result.stderr.splitlines()[0] == "starting 2 plugins"
    assert re.fullmatch(r"  \[1/2\] alpha: active \(\d+\.\d\ds\)", result.stderr.splitlines()[1])
    assert re.fullmatch(r"  \[2/2\] beta: active \(\d+\.\d\ds\)", result.stderr.splitlines()[2])


def test_list_load_table_with_failures_and_their_fixes(healthy: Path) -> None:
    result = run("-q", "--plugins-dir", healthy, "list", "--load")  # no token: alpha fails

    assert result.exit_code == 0
    assert result.stderr == ""  # -q: no progress; host errors are in the table, not logged
    lines = result.stdout.splitlines()
    assert "! plugin 'alpha': invalid settings: token is required but not set" in lines
    fix = lines[
        lines.index("! plugin 'alpha': invalid settings: token is required but not set") + 1
    ]
    assert fix == (
        "  fix: set JAF_PLUGINS__ALPHA__TOKEN, or 'token' under [plugins.alpha] in jaf-plugins.toml"
    )
    beta = next(line for line in lines if line.startswith("! plugin 'beta'"))
    assert "skipped: its dependency 'alpha' is failed" in beta


def test_allow_and_block_lists_disable_without_importing(healthy: Path) -> None:
    blocked = rows_of(run("--plugins-dir", healthy, "--block", "alpha", "list", "--json"))
    allowed = rows_of(run("--plugins-dir", healthy, "--load", "beta", "list", "--json"))
    from_env = rows_of(
        run("--plugins-dir", healthy, "list", "--json", env={"JAF_PLUGINS_BLOCK": "beta"})
    )

    assert blocked["alpha"]["status"] == "disabled"
    assert blocked["alpha"]["note"] == "blocked (JAF_PLUGINS_BLOCK / block=)"
    assert allowed["alpha"]["status"] == "disabled"
    assert "not in the allowlist" in allowed["alpha"]["note"]
    assert allowed["beta"]["status"] == "discovered"
    assert from_env["beta"]["status"] == "disabled"
    table = run("--plugins-dir", healthy, "--block", "alpha", "list").stdout.splitlines()
    assert "- alpha: disabled: blocked (JAF_PLUGINS_BLOCK / block=)" in table
    assert not (healthy / "alpha.imported").exists()


def test_autoload_switch_and_settings_file(healthy: Path, tmp_path: Path) -> None:
    settings = tmp_path / "host.toml"
    settings.write_text('block = ["beta"]\n[plugins.alpha]\nregion = "us"\n')

    rows = rows_of(run("--plugins-dir", healthy, "--settings-file", settings, "list", "--json"))
    assert rows["beta"]["status"] == "disabled"
    info = json.loads(
        run("--settings-file", settings, "--plugins-dir", healthy, "info", "alpha", "--json").stdout
    )
    region = next(f for f in info["settings"]["fields"] if f["name"] == "region")
    assert region["value"] == "us"
    assert region["source"] == f"'region' in [plugins.alpha] of {settings}"
    # --autoload on its own finds the (here: none or some) installed plugins, never failing.
    assert run("--autoload", "list", "--json").exit_code == 0


# -- info -------------------------------------------------------------------------------------


def test_info_json_has_everything(healthy: Path, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("JAF_PLUGINS__ALPHA__RETRIES=5\n")
    result = run("--plugins-dir", healthy, "info", "alpha", "--json", env=TOKEN)

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["name"], data["version"], data["status"], data["author"]) == (
        "alpha",
        "1.2.0",
        "active",
        "Ada",
    )
    assert data["description"] == ""  # a class plugin's own metadata, not its module's doc
    assert (data["source"], data["target"]) == ("directory", str(healthy / "alpha.py"))
    assert data["location"] == "plugins/alpha.py"
    assert data["required_by"] == ["beta"]
    assert data["dependencies"] == []
    assert "traceback" not in data
    fields = {f["name"]: f for f in data["settings"]["fields"]}
    assert fields["token"]["set"] is True and "value" not in fields["token"]
    assert fields["token"]["source"] == "environment variable JAF_PLUGINS__ALPHA__TOKEN"
    assert fields["retries"] == {
        "name": "retries",
        "type": "int",
        "required": False,
        "default": 3,
        "description": "attempts",
        "secret": False,
        "env": "JAF_PLUGINS__ALPHA__RETRIES",
        "set": True,
        "source": "JAF_PLUGINS__ALPHA__RETRIES in .env",
        "value": "5",
    }
    assert fields["region"]["value"] == "eu" and fields["region"]["set"] is False
    tools = {tool["name"]: tool for tool in data["tools"]}
    assert tools["echo"]["parameters"]["required"] == ["text"]
    assert tools["echo"]["description"] == "Echo text"
    assert data["agents"] == [{"name": "helper", "tools": ["echo"], "handoffs": []}]
    assert data["events"] == [{"event": "user.*", "handler": "AlphaPlugin.on_user()"}]
    assert "s3cret" not in result.stdout


def test_info_dependencies_met_and_not(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "base": plugin_source("base", []),
            "needy": plugin_source("needy", ["base>=2", "ghost", "tools"]),
        },
    )
    result = run("--plugins-dir", plugins, "info", "needy", "--json")
    deps = {dep["name"]: dep for dep in json.loads(result.stdout)["dependencies"]}

    assert deps["base"] == {
        "name": "base",
        "constraint": ">=2",
        "optional": False,
        "version": "0.0.0",
        "status": "active",  # started as needy's dependency (needy itself cannot start)
        "satisfied": False,
        "problem": "requires base>=2, but 'base' 0.0.0 is loaded",
    }
    assert deps["ghost"]["satisfied"] is False
    assert deps["ghost"]["status"] is None
    assert deps["tools"]["satisfied"] is True
    text = run("--plugins-dir", plugins, "info", "needy").stdout
    assert re.search(r"base +>=2 +0\.0\.0 active +NOT MET: requires base>=2", text)
    assert re.search(r"tools +any version +0\.1\.0 active +ok", text)


def test_info_text_never_shows_a_secret(healthy: Path) -> None:
    result = run("--plugins-dir", healthy, "info", "alpha", env=TOKEN)

    assert result.exit_code == 0
    out = result.stdout
    assert "s3cret" not in out
    assert re.search(r"token +SecretStr +yes +JAF_PLUGINS__ALPHA__TOKEN +set \(environment\)", out)
    assert re.search(r'region +str +no +JAF_PLUGINS__ALPHA__REGION +"eu" \(default\)', out)
    assert "  echo: Echo text" in out
    assert "  'user.*': AlphaPlugin.on_user()" in out
    assert "  helper (tools: echo)" in out


def test_info_of_a_failed_plugin_and_verbose_traceback(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "broken": plugin_source(
                "broken", [], "async def activate(self):\n    raise KeyError('x')\n"
            )
        },
    )
    plain = run("--plugins-dir", plugins, "info", "broken")
    verbose = run("--plugins-dir", plugins, "info", "broken", "--verbose")

    assert plain.exit_code == 0
    assert "error: activate raised KeyError: 'x'" in plain.stdout
    assert "  fix: see its traceback: jaf-plugins info broken --verbose" in plain.stdout
    assert "Traceback" not in plain.stdout + plain.stderr
    assert "Traceback (most recent call last)" in verbose.stdout
    assert "tools, agents, event handlers: unknown (the plugin is not running)" in plain.stdout


def test_info_no_start_and_unknown_names(healthy: Path) -> None:
    data = json.loads(run("--plugins-dir", healthy, "info", "alpha", "--no-start", "--json").stdout)
    missing = run("--plugins-dir", healthy, "info", "nope")

    assert data["status"] == "inactive" and data["tools"] is None
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert missing.stderr.splitlines() == [
        "error: no plugin named 'nope'",
        "  fix: use one of: alpha, beta, core, tools (jaf-plugins list)",
    ]


# -- check ----------------------------------------------------------------------------------


def test_check_healthy_exits_zero(healthy: Path) -> None:
    result = run("--plugins-dir", healthy, "check", env=TOKEN)

    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-2:] == [
        "healthy: 4 plugins, no problems",
        "(tool and agent names are checked once plugins start: check --activate)",
    ]
    assert (healthy / "alpha.imported").exists()  # check imports (list does not)


def test_check_finds_every_kind_of_problem_without_starting(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "alpha": ALPHA,  # no token: invalid settings
            "beta": BETA.replace("alpha>=1,<2", "alpha>=2"),  # version mismatch
            "ring_a": plugin_source("ring_a", ["ring_b"]),
            "ring_b": plugin_source("ring_b", ["ring_a"]),
            "orphan": plugin_source("orphan", ["ghost>=1"]),
            "child": plugin_source("child", ["alpha"]),  # would be skipped
            "broken": "import not_a_module_anywhere\n",
            "bad_hook": plugin_source(
                "bad_hook", [], "def initialize(self, ctx):\n    return True\n"
            ),
        },
    )
    result = run("--plugins-dir", plugins, "check", "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False and report["started"] is False
    kinds = {p["plugin"]: p["kind"] for p in report["problems"]}
    assert kinds == {
        "alpha": "invalid settings",
        "beta": "version mismatch",
        "ring_a": "dependency cycle",
        "ring_b": "dependency cycle",
        "orphan": "missing dependency",
        "child": "dependency failed",
        "broken": "import error",
        "bad_hook": "invalid plugin",
    }
    for problem in report["problems"]:
        assert problem["fix"], problem
    verdicts = {p["name"]: p["verdict"] for p in report["plugins"]}
    assert verdicts["core"] == "ok"
    assert verdicts["child"] == "dependency failed"
    assert not any(p["traceback"] for p in report["problems"])  # only with --verbose
    assert run("--plugins-dir", plugins, "check", "--json", "-v").exit_code == 1
    traced = json.loads(run("--plugins-dir", plugins, "check", "--json", "-v").stdout)
    assert any("Traceback" in (p["traceback"] or "") for p in traced["problems"])


def test_check_text_is_one_line_per_problem_plus_its_fix(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {"orphan": plugin_source("orphan", ["ghost>=1"]), "broken": "raise ValueError('bad')\n"},
    )
    result = run("--plugins-dir", plugins, "check")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "checked 4 plugins (imported and resolved, not started)"
    assert re.fullmatch(r"  orphan +0\.0\.0 +missing dependency", lines[4])
    problems = lines[lines.index("problems: 2") + 1 :]
    assert problems[0].startswith("! broken: import error: importing ")
    assert problems[0].endswith("failed: ValueError: bad")
    assert problems[1] == (
        "  fix: fix the error in the plugin's code; see its traceback: "
        "jaf-plugins info broken --verbose"
    )
    assert problems[2] == "! orphan: missing dependency: requires 'ghost', which is not loaded"
    assert problems[3] == (
        "  fix: install or load the plugin 'ghost', or mark the dependency optional"
    )
    assert lines[-1] == "not healthy: 2 problems"
    assert "Traceback" not in result.stdout + result.stderr


def test_check_activate_finds_start_failures_and_name_conflicts(healthy: Path) -> None:
    write_plugins(
        healthy,
        {"gamma": plugin_source("gamma", [], "async def deactivate(self):\n    return False\n")},
    )
    static = run("-q", "--plugins-dir", healthy, "check", env=TOKEN)
    started = run("-q", "--plugins-dir", healthy, "check", "--activate", "--json", env=TOKEN)

    assert static.exit_code == 0, static.stdout
    assert started.exit_code == 1
    report = json.loads(started.stdout)
    assert report["started"] is True
    problems = {(p["plugin"], p["kind"]): p for p in report["problems"]}
    conflict = problems[("alpha", "name conflict")]
    assert conflict["message"] == "tool 'echo' is offered by plugins 'alpha', 'beta'"
    assert conflict["fix"].startswith("call it by qualified name (alpha:echo)")
    assert problems[("gamma", "start failed")]["message"] == "deactivate returned False"


def test_check_host_settings_error_is_one_line(healthy: Path) -> None:
    result = run("--plugins-dir", healthy, "check", env={"JAF_PLUGINS_TIMEOUT": "soon"})

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "error: invalid host settings: timeout from environment variable JAF_PLUGINS_TIMEOUT"
    )
    assert result.stderr.splitlines()[1].startswith("  fix: set JAF_PLUGINS_TIMEOUT")


# -- graph ----------------------------------------------------------------------------------


@pytest.fixture
def graph_plugins(tmp_path: Path) -> Path:
    return write_plugins(
        tmp_path / "plugins",
        {
            "db": plugin_source("db", []),
            "api": plugin_source("api", ["db>=0", "tools"]),
            "cache": plugin_source("cache", ["db<0"]),
            "web": plugin_source("web", ["api", "ghost"]),
        },
    )


def test_graph_text(graph_plugins: Path) -> None:
    result = run("--plugins-dir", graph_plugins, "graph")

    assert result.exit_code == 0
    assert result.stdout == textwrap.dedent(
        """\
        cache 0.0.0 (failed)
        └── db <0  VERSION MISMATCH
        db 0.0.0
        api 0.0.0
        ├── db >=0  ok (0.0.0)
        └── tools  ok (0.1.0)
        web 0.0.0 (failed)
        ├── api  ok (0.0.0)
        └── ghost  MISSING
        ghost (missing)

        start order: db, api
        """
    )


def test_graph_mermaid_and_dot(graph_plugins: Path) -> None:
    mermaid = run("--plugins-dir", graph_plugins, "graph", "--format", "mermaid").stdout
    dot = run("--plugins-dir", graph_plugins, "graph", "--format", "dot").stdout

    assert mermaid.splitlines()[0] == "flowchart LR"
    assert '    api -->|">=0"| db' in mermaid
    assert '    cache -->|"<0 version mismatch"| db' in mermaid
    assert '    web -->|"missing"| ghost' in mermaid
    assert '    ghost["ghost (missing)"]:::missing' in mermaid
    assert '  "api" -> "db" [label=">=0"];' in dot
    assert '  "web" -> "ghost" [label="missing", color=red];' in dot
    assert '  "ghost" [label="ghost (missing)", color=red, style=dashed];' in dot
    assert dot.rstrip().endswith("}")


def test_graph_of_a_cycle(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {"a": plugin_source("a", ["b"]), "b": plugin_source("b", ["a"])},
    )
    out = run("--plugins-dir", plugins, "graph").stdout

    assert "└── b  CYCLE" in out and "└── a  CYCLE" in out
    assert out.splitlines()[-1] == "start order: none"


# -- tool -----------------------------------------------------------------------------------


def test_tool_prints_strings_as_they_are_and_the_rest_as_json(healthy: Path) -> None:
    echo = run(
        "-q",
        "--plugins-dir",
        healthy,
        "tool",
        "alpha:echo",
        "--args",
        '{"text": "hi", "times": 2}',
        env=TOKEN,
    )
    total = run(
        "-q", "--plugins-dir", healthy, "tool", "total", "-a", "numbers=[1, 2, 3]", env=TOKEN
    )

    assert (echo.exit_code, echo.stdout) == (0, "hihi\n")
    assert total.exit_code == 0, total.stderr
    assert json.loads(total.stdout) == {"total": 6}


def test_tool_errors(healthy: Path) -> None:
    conflict = run("-q", "--plugins-dir", healthy, "tool", "echo", "-a", "text=x", env=TOKEN)
    invalid = run("-q", "--plugins-dir", healthy, "tool", "alpha:echo", "-a", "times=2", env=TOKEN)
    unknown = run("-q", "--plugins-dir", healthy, "tool", "nope", env=TOKEN)
    raising = run("-q", "--plugins-dir", healthy, "tool", "explode", env=TOKEN)
    raising_verbose = run("-q", "--plugins-dir", healthy, "tool", "explode", "-v", env=TOKEN)
    bad_json = run("-q", "--plugins-dir", healthy, "tool", "echo", "--args", "{nope", env=TOKEN)

    assert conflict.exit_code == 1
    assert conflict.stderr.splitlines() == [
        "error: tool 'echo' is offered by plugins 'alpha', 'beta'",
        "  fix: ask for it by qualified name, e.g. alpha:echo",
    ]
    assert invalid.exit_code == 1
    assert invalid.stderr.splitlines()[0].startswith(
        "error: plugin 'alpha': tool 'echo': missing a required argument: 'text'"
    )
    assert unknown.stderr.splitlines()[1].startswith(
        "  fix: use one of: alpha:echo, alpha:explode, alpha:total, beta:echo"
    )
    assert raising.exit_code == 1
    assert raising.stderr.splitlines() == [
        "error: RuntimeError: kaboom",
        "  (run with --verbose for the traceback)",
    ]
    assert "Traceback (most recent call last)" in raising_verbose.stderr
    assert raising_verbose.stderr.splitlines()[-1] == "error: RuntimeError: kaboom"
    assert bad_json.exit_code == 2
    assert "Invalid value for --args: not JSON" in bad_json.stderr


def test_tool_names_plugins_that_did_not_start(healthy: Path) -> None:
    result = run("-q", "--plugins-dir", healthy, "tool", "total")  # no token: alpha failed

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: no active plugin offers a tool named 'total'",
        "  fix: install a plugin that offers it; plugins not running, which may offer it: "
        "alpha, beta (jaf-plugins check)",
    ]


# -- trace, progress, logging ---------------------------------------------------------------


def test_trace_prints_each_hook_call(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "hooked": plugin_source(
                "hooked",
                [],
                "async def initialize(self, context):\n    return True\n"
                "def on_event(self, event):\n    raise ValueError('no')\n",
            )
        },
    )
    flag = run("-q", "--trace", "--plugins-dir", plugins, "list", "--load")
    env = run("-q", "--plugins-dir", plugins, "list", "--load", env={"JAF_PLUGINS_TRACE": "1"})

    for result in (flag, env):
        trace = [line for line in result.stderr.splitlines() if line.startswith("trace ")]
        assert re.fullmatch(
            r"trace hooked\.initialize\(context=<PluginContext 'hooked'>\) \d+\.\d{3} ms", trace[0]
        ), trace
    assert _calling._tracer is None  # removed when the command ended


def test_trace_shows_a_raising_hook(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "hooked": plugin_source(
                "hooked", [], "async def activate(self):\n    raise ValueError('no')\n"
            )
        },
    )
    result = run("-q", "--trace", "--plugins-dir", plugins, "check", "--activate")

    trace = [line for line in result.stderr.splitlines() if line.startswith("trace ")]
    assert any(
        re.fullmatch(r"trace hooked\.activate\(\) [\d.]+ ms raised ValueError: no", line)
        for line in trace
    ), trace


def test_a_plugins_own_log_is_one_line_unless_verbose(tmp_path: Path) -> None:
    plugins = write_plugins(
        tmp_path / "plugins",
        {
            "noisy": plugin_source(
                "noisy",
                [],
                "async def activate(self):\n"
                "    try:\n        1 / 0\n"
                "    except ZeroDivisionError:\n"
                "        self.logger.exception('could not divide')\n"
                "    return True\n",
            )
        },
    )
    quiet = run("-q", "--plugins-dir", plugins, "list", "--load")
    verbose = run("-q", "-v", "--plugins-dir", plugins, "list", "--load")

    assert quiet.stderr.splitlines() == [
        "log ERROR jaf.plugins.noisy: could not divide: ZeroDivisionError: division by zero"
    ]
    assert "Traceback (most recent call last)" in verbose.stderr


def test_progress_bar_on_a_terminal(healthy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jaf_plugins import _cli_host

    monkeypatch.setattr(_cli_host, "_is_terminal", lambda stream: True)
    result = run("--plugins-dir", healthy, "list", "--load", "--json", env=TOKEN)

    assert result.exit_code == 0
    assert json.loads(result.stdout)[2]["status"] == "active"
    assert result.stderr.splitlines()[-1] == "started 2 of 2 plugins"
    assert "[1/2]" not in result.stderr


def test_demo_honours_the_global_options(healthy: Path) -> None:
    result = run(
        "--plugins-dir",
        healthy,
        "demo",
        "--tool",
        "alpha:echo",
        "--args",
        '{"text": "a"}',
        env=TOKEN,
    )

    assert result.exit_code == 0, result.stderr
    assert "calling tool 'echo' (from plugin 'alpha') with {'text': 'a'}" in result.stdout
    assert "   -> a" in result.stdout
    assert "deactivated in reverse dependency order: beta, alpha" in result.stdout


# -- staying light --------------------------------------------------------------------------


def test_importing_the_host_or_the_command_does_not_import_rich() -> None:
    code = (
        "import sys, jaf_plugins; a = 'rich' in sys.modules; "
        "import jaf_plugins.cli; print(a, 'rich' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "False"]


def test_a_name_claimed_twice_is_reported_with_its_fix(tmp_path: Path) -> None:
    first = write_plugins(tmp_path / "first", {"twin": plugin_source("twin", [])})
    second = write_plugins(tmp_path / "second", {"twin": plugin_source("twin", [])})

    listed = run("--plugins-dir", first, "--plugins-dir", second, "list")
    checked = run("--plugins-dir", first, "--plugins-dir", second, "check", "--json")

    notes = listed.stdout.splitlines()[-3:-1]
    assert notes[0] == (
        f"! plugin 'twin': {str(second / 'twin.py')!r} uses the name 'twin', "
        f"already taken by {str(first / 'twin.py')!r}"
    )
    assert notes[1] == "  fix: uninstall or block one of the two"
    assert checked.exit_code == 1
    [problem] = json.loads(checked.stdout)["problems"]
    assert (problem["plugin"], problem["kind"]) == ("twin", "duplicate name")
    assert problem["fix"]
