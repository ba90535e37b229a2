"""Finding plugins: entry points of real distributions, allow/block lists, plugin folders.

Every distribution here is real: a ``<name>-<version>.dist-info`` folder (METADATA,
entry_points.txt, top_level.txt) next to its modules, in a folder put on ``sys.path``, so
``importlib.metadata`` finds it exactly as it finds what pip installed. The surrounding
environment may have other plugins installed (the contrib ones, say): tests only make claims
about the plugins they wrote, or about every entry-point plugin when the claim is "none".
"""

from __future__ import annotations

import builtins
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jaf_plugins import (
    DuplicatePluginError,
    Plugin,
    PluginLoadError,
    PluginManager,
    PluginStatus,
    SettingsError,
)

if TYPE_CHECKING:
    from conftest import Site

# -- real distributions on sys.path ---------------------------------------------------------


def imported(module: str) -> bool:
    return any(name == module or name.startswith(module + ".") for name in sys.modules)


def imported_files(folder: Path) -> set[str]:
    """Files under ``folder`` that some module in ``sys.modules`` was loaded from."""
    base = folder.resolve()
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and (path := Path(file).resolve()).is_relative_to(base):
            found.add(path.relative_to(base).as_posix())
    return found


def assert_explained(pm: PluginManager, name: str, distribution: str, *parts: str) -> str:
    """``get_error(name)`` names the plugin, its distribution and the fix."""
    error = pm.get_error(name)
    assert error is not None, f"{name} has no error; status {pm.get_status(name)}"
    assert repr(name) in error
    assert repr(distribution) in error
    assert "Fix: " in error
    for part in parts:
        assert part in error
    return error


def entry_point_infos(pm: PluginManager) -> dict[str, str]:
    """Status of every entry-point plugin the manager saw, ours or installed around us."""
    return {i.name: i.status.value for i in pm.list_plugins() if i.source == "entry-point"}


GOOD = """
    from jaf_plugins import Plugin

    class GoodPlugin(Plugin):
        pass
"""

TOOLS = '''
    """Tells the time, reproducibly."""

    from jaf_plugins import Tool, ToolPlugin

    made = []

    @Tool(name="what_time", description="The time in a city")
    def what_time(city: str) -> str:
        return f"noon in {city}"

    class ClockPlugin(ToolPlugin):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

        def get_tools(self) -> list[Tool]:
            return [what_time]
'''


# -- the four shapes an entry point may take ------------------------------------------------


@pytest.mark.anyio
async def test_plugin_subclass_is_built_with_no_arguments_and_named_by_its_entry_point(
    site: Site,
) -> None:
    mod = site.module("clock", TOOLS)
    site.distribution("jaf-test-clock", "2.4.1", {"clock": f"{mod}:ClockPlugin"}, summary="Clock")

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status("clock") is PluginStatus.ACTIVE
        plugin = pm.get_plugin("clock")
        assert type(plugin) is sys.modules[mod].ClockPlugin
        assert sys.modules[mod].made == [plugin]
        assert plugin.metadata.name == "clock"
        info = pm.get_info("clock")
        assert info is not None
        assert (info.version, info.distribution, info.source, info.target) == (
            "2.4.1",
            "jaf-test-clock",
            "entry-point",
            f"{mod}:ClockPlugin",
        )
        assert info.tools == ("what_time",)
        tool = pm.get_tool("clock:what_time")
        assert tool is not None
        assert await tool.execute({"city": "Oslo"}) == "noon in Oslo"
    assert pm.get_status("clock") is PluginStatus.INACTIVE


@pytest.mark.anyio
async def test_plugin_instance_is_used_as_is_and_keeps_its_own_version(site: Site) -> None:
    mod = site.module(
        "echo",
        """
        from jaf_plugins import EventHandler, Plugin

        class EchoPlugin(Plugin):
            def __init__(self) -> None:
                super().__init__()
                self.metadata.version = "3.0rc1"

            @EventHandler("ping")
            async def pong(self, event):
                return f"pong {event.data}"

        plugin = EchoPlugin()
        """,
    )
    site.distribution("jaf-test-echo", "1.0.0", {"echo": f"{mod}:plugin"})

    pm = PluginManager(autoload=True)
    assert "echo" in await pm.discover()
    assert pm.get_plugin("echo") is sys.modules[mod].plugin
    async with pm:
        assert pm.get_status("echo") is PluginStatus.ACTIVE
        info = pm.get_info("echo")
        assert info is not None
        assert (info.version, info.distribution) == ("3.0rc1", "jaf-test-echo")
        outcome = await pm.emit_event("ping", 7)
        assert [r.value for r in outcome.results if r.plugin == "echo"] == ["pong 7"]


@pytest.mark.anyio
async def test_zero_argument_factory_is_called_once(site: Site) -> None:
    mod = site.module(
        "factory",
        """
        from jaf_plugins import Plugin

        calls = []

        class Configured(Plugin):
            def __init__(self, greeting: str) -> None:
                super().__init__()
                self.greeting = greeting

        def make_plugin() -> Plugin:
            calls.append("made")
            return Configured("hi")
        """,
    )
    site.distribution("jaf-test-factory", "0.9.0", {"configured": f"{mod}:make_plugin"})

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status("configured") is PluginStatus.ACTIVE
        plugin = pm.get_plugin("configured")
        assert plugin is not None
        assert getattr(plugin, "greeting", None) == "hi"
        assert plugin.metadata.name == "configured"
        assert plugin.metadata.version == "0.9.0"
    assert sys.modules[mod].calls == ["made"]


@pytest.mark.anyio
async def test_module_of_hookimpls_is_one_plugin_described_by_its_docstring(site: Site) -> None:
    mod = site.module(
        "hello",
        '''
        """Says hello to every event.

        The rest of this docstring is not part of the description.
        """

        from jaf_plugins import hookimpl

        @hookimpl
        def on_event(event):
            return f"hello {event.name}"
        ''',
    )
    site.distribution("jaf-test-hello", "1.1.0", {"hello": mod})

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status("hello") is PluginStatus.ACTIVE
        plugin = pm.get_plugin("hello")
        assert plugin is not None
        assert plugin.metadata.description == "Says hello to every event."
        info = pm.get_info("hello")
        assert info is not None
        assert (info.version, info.distribution, info.hooks) == (
            "1.1.0",
            "jaf-test-hello",
            ("on_event",),
        )
        outcome = await pm.emit_event("signup")
        assert [r.value for r in outcome.results if r.plugin == "hello"] == ["hello signup"]


@pytest.mark.anyio
async def test_module_on_event_result_names_the_hook(site: Site) -> None:
    """``HandlerResult.handler`` is what ``jaf-plugins demo`` prints after the plugin name."""
    mod = site.module(
        "hello",
        """
        from jaf_plugins import hookimpl

        @hookimpl
        def on_event(event):
            return f"hello {event.name}"
        """,
    )
    site.distribution("jaf-test-hello", "1.1.0", {"hello": mod})

    async with PluginManager(autoload=True) as pm:
        outcome = await pm.emit_event("signup")
    mine = [(r.handler, r.value) for r in outcome.results if r.plugin == "hello"]
    assert mine == [("on_event", "hello signup")]


# -- broken entry points: FAILED with a reason, the rest carries on ---------------------------


@dataclass(frozen=True)
class Broken:
    id: str
    name: str
    attr: str | None
    """Entry-point attribute; ``None`` points the entry point at the module itself."""
    source: str
    says: tuple[str, ...]
    """What ``get_error`` must contain: the message and the fix."""


BROKEN = [
    Broken(
        "missing-module",
        "ghost",
        "Plugin",
        "",  # no module written: the entry point names one that is not installed
        ("ModuleNotFoundError", "Fix: install the module 'ghost_", "or correct the target"),
    ),
    Broken(
        "missing-attribute",
        "typo",
        "WetherPlugin",
        "from jaf_plugins import Plugin\n\nclass WeatherPlugin(Plugin):\n    pass\n",
        ("AttributeError", "Fix: the entry point names an attribute that does not exist"),
    ),
    Broken(
        "not-a-plugin",
        "stranger",
        "NotAPlugin",
        "class NotAPlugin:\n    pass\n",
        ("is not a plugin: got class 'NotAPlugin'", "Fix: point the entry point at a Plugin"),
    ),
    Broken(
        "factory-returns-no-plugin",
        "numbers",
        "make",
        "def make():\n    return 42\n",
        ("is not a plugin: got int", "Fix: point the entry point at a Plugin"),
    ),
    Broken(
        "init-needs-arguments",
        "needy",
        "NeedsKey",
        """
        from jaf_plugins import Plugin

        class NeedsKey(Plugin):
            def __init__(self, api_key: str) -> None:
                super().__init__()
                self.api_key = api_key
        """,
        ("NeedsKey() failed: TypeError", "Fix: give __init__ defaults for every argument"),
    ),
    Broken(
        "version-not-pep440",
        "badver",
        "BadVersion",
        """
        from jaf_plugins import Plugin

        class BadVersion(Plugin):
            def __init__(self) -> None:
                super().__init__()
                self.metadata.version = "version one"
        """,
        ("'version one' is not a PEP 440 version", "Fix: use a version such as '1.0.0'"),
    ),
    Broken(
        "invalid-name",
        "bad!name",
        "Fine",
        "from jaf_plugins import Plugin\n\nclass Fine(Plugin):\n    pass\n",
        ("invalid plugin name 'bad!name'", "Fix: use letters, digits"),
    ),
    Broken(
        "no-super-init",
        "forgetful",
        "Forgetful",
        """
        from jaf_plugins import Plugin

        class Forgetful(Plugin):
            def __init__(self) -> None:
                self.ready = True
        """,
        ("did not call super().__init__()", "Fix: call super().__init__() first thing"),
    ),
    Broken(
        "hook-parameters-mismatch",
        "mismatch",
        "Mismatch",
        """
        from jaf_plugins import Plugin

        class Mismatch(Plugin):
            async def initialize(self, ctx):
                return True
        """,
        (
            "hook implementation does not match its specification",
            "ctx",
            "Fix: name the parameters as in jaf_plugins.hookspecs",
        ),
    ),
    Broken(
        "depends-on-itself",
        "selfish",
        "Selfish",
        """
        from jaf_plugins import Plugin

        class Selfish(Plugin):
            def __init__(self) -> None:
                super().__init__()
                self.metadata.dependencies = ["selfish>=0.1"]
        """,
        ("depends on itself", "Fix: remove 'selfish' from its own metadata.dependencies"),
    ),
    Broken(
        "import-raises",
        "explosive",
        "Plugin",
        "raise RuntimeError('EXPLOSIVE_DSN is not set')\n",
        (
            "failed: RuntimeError: EXPLOSIVE_DSN is not set",
            "Fix: fix the error in the plugin's code",
        ),
    ),
]


def write_broken(site: Site, case: Broken) -> str:
    """Write the case's module (if any); returns the entry-point target."""
    if case.source:
        module = site.module(case.name.replace("!", "_"), case.source)
    else:
        module = f"ghost_{site.tag}"
    return module if case.attr is None else f"{module}:{case.attr}"


@pytest.mark.anyio
@pytest.mark.parametrize("case", BROKEN, ids=[case.id for case in BROKEN])
async def test_broken_entry_point_fails_alone_and_says_how_to_fix_it(
    site: Site, case: Broken
) -> None:
    good = site.module("good", GOOD)
    site.distribution("jaf-test-good", "1.0.0", {"good": f"{good}:GoodPlugin"})
    target = write_broken(site, case)
    site.distribution("jaf-test-broken", "0.1.0", {case.name: target})

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status(case.name) is PluginStatus.FAILED
        assert_explained(pm, case.name, "jaf-test-broken", *case.says)
        assert pm.get_status("good") is PluginStatus.ACTIVE
        assert pm.get_error("good") is None
        info = pm.get_info(case.name)
        assert info is not None
        assert (info.distribution, info.target) == ("jaf-test-broken", target)
    assert pm.problems == []


@pytest.mark.anyio
async def test_all_broken_entry_points_in_one_run_each_get_a_one_line_error(site: Site) -> None:
    """``get_error`` is documented as one line: it is what the CLI and logs print."""
    good = site.module("good", GOOD)
    site.distribution("jaf-test-good", "1.0.0", {"good": f"{good}:GoodPlugin"})
    site.distribution(
        "jaf-test-broken", "0.1.0", {case.name: write_broken(site, case) for case in BROKEN}
    )

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status("good") is PluginStatus.ACTIVE
        errors = {case.name: pm.get_error(case.name) for case in BROKEN}
    assert {name: pm.get_status(name) for name in errors} == {
        name: PluginStatus.FAILED for name in errors
    }
    multi_line = {name: error for name, error in errors.items() if "\n" in (error or "")}
    assert multi_line == {}


@pytest.mark.anyio
async def test_import_failure_keeps_the_traceback_of_the_plugin_code(site: Site) -> None:
    mod = site.module("explosive", "raise RuntimeError('EXPLOSIVE_DSN is not set')\n")
    site.distribution("jaf-test-explosive", "0.1.0", {"explosive": f"{mod}:Plugin"})

    async with PluginManager(autoload=True) as pm:
        trace = pm.get_traceback("explosive")
    assert trace is not None
    assert f"{mod}.py" in trace
    assert "raise RuntimeError('EXPLOSIVE_DSN is not set')" in trace


@pytest.mark.anyio
async def test_the_way_to_the_traceback_that_a_hint_suggests_works(site: Site) -> None:
    """The hint for a plugin whose import raised says where its traceback is; following
    it shows the plugin's own line."""
    mod = site.module("explosive", "raise RuntimeError('EXPLOSIVE_DSN is not set')\n")
    site.distribution("jaf-test-explosive", "0.1.0", {"explosive": f"{mod}:Plugin"})
    async with PluginManager(autoload=True) as pm:
        error = pm.get_error("explosive") or ""
        assert "pm.get_traceback(name)" in error
        assert "raise RuntimeError('EXPLOSIVE_DSN is not set')" in (
            pm.get_traceback("explosive") or ""
        )


# -- one name, two distributions ------------------------------------------------------------


@pytest.mark.anyio
async def test_two_distributions_claiming_one_name_first_by_sort_order_wins(
    make_site: Callable[[], Site],
) -> None:
    first = make_site()
    first_mod = first.module("dup_a", GOOD)
    first.distribution("jaf-test-aaa", "1.0.0", {"dup": f"{first_mod}:GoodPlugin"})
    second = make_site()  # goes in front of `first` on sys.path: sys.path order must not matter
    second_mod = second.module("dup_z", GOOD)
    second.distribution("jaf-test-zzz", "2.0.0", {"dup": f"{second_mod}:GoodPlugin"})
    assert sys.path.index(str(second.root)) < sys.path.index(str(first.root))

    async with PluginManager(autoload=True) as pm:
        assert pm.get_status("dup") is PluginStatus.ACTIVE
        info = pm.get_info("dup")
        assert info is not None
        assert (info.distribution, info.version) == ("jaf-test-aaa", "1.0.0")
        assert type(pm.get_plugin("dup")) is sys.modules[first_mod].GoodPlugin
        assert not imported(second_mod)
        problems = pm.problems
    assert len(problems) == 1
    problem = problems[0]
    assert isinstance(problem, DuplicatePluginError)
    assert (problem.plugin, problem.distribution) == ("dup", "jaf-test-zzz")
    text = str(problem)
    assert "'dup'" in text
    assert "'jaf-test-zzz'" in text
    assert "jaf-test-aaa" in text
    assert "Fix: " in text


# -- allow and block lists ------------------------------------------------------------------


def three_plugins(site: Site) -> dict[str, str]:
    """Distributions offering ``wanted``, ``unwanted`` and ``blocked``; name -> module."""
    modules = {name: site.module(name, GOOD) for name in ("wanted", "unwanted", "blocked")}
    for name, module in modules.items():
        site.distribution(f"jaf-test-{name}", "1.0.0", {name: f"{module}:GoodPlugin"})
    return modules


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["argument", "environment"])
async def test_blocked_plugin_is_disabled_and_never_imported(
    site: Site, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    modules = three_plugins(site)
    if via == "argument":
        pm = PluginManager(autoload=True, block=["blocked", "nothing-installed"])
    else:
        monkeypatch.setenv("JAF_PLUGINS_BLOCK", "blocked, nothing-installed")
        monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "1")
        pm = PluginManager()

    async with pm:
        assert pm.get_status("blocked") is PluginStatus.DISABLED
        assert not imported(modules["blocked"])
        info = pm.get_info("blocked")
        assert info is not None
        assert info.note is not None
        assert "blocked" in info.note
        assert info.distribution == "jaf-test-blocked"
        assert pm.get_status("wanted") is PluginStatus.ACTIVE
        assert pm.get_status("unwanted") is PluginStatus.ACTIVE


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["argument", "environment"])
async def test_only_allowlisted_plugins_are_imported(
    site: Site, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    modules = three_plugins(site)
    if via == "argument":
        pm = PluginManager(autoload=True, load=["wanted"])
    else:
        monkeypatch.setenv("JAF_PLUGINS_LOAD", " wanted ,")
        monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "1")
        pm = PluginManager()

    async with pm:
        statuses = entry_point_infos(pm)
        assert statuses.pop("wanted") == "active"
        assert set(statuses) >= {"unwanted", "blocked"}
        assert set(statuses.values()) == {"disabled"}  # installed plugins around us too
        assert not imported(modules["unwanted"])
        assert not imported(modules["blocked"])
        info = pm.get_info("unwanted")
        assert info is not None
        assert info.note is not None
        assert "allowlist" in info.note


@pytest.mark.anyio
async def test_block_wins_over_load(site: Site) -> None:
    modules = three_plugins(site)
    async with PluginManager(autoload=True, load=["wanted", "blocked"], block="blocked") as pm:
        assert pm.get_status("wanted") is PluginStatus.ACTIVE
        assert pm.get_status("blocked") is PluginStatus.DISABLED
        assert not imported(modules["blocked"])


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["argument", "environment"])
async def test_empty_allowlist_loads_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    modules = three_plugins(site)
    if via == "argument":
        pm = PluginManager(autoload=True, load=[])
    else:
        monkeypatch.setenv("JAF_PLUGINS_LOAD", "")
        monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "1")
        pm = PluginManager()

    async with pm:
        statuses = entry_point_infos(pm)
        assert set(statuses) >= set(modules)
        assert set(statuses.values()) == {"disabled"}
        assert not any(imported(module) for module in modules.values())
        assert pm.list_tools() == []
        assert pm.activation_order == []


@pytest.mark.anyio
async def test_arguments_win_over_environment(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    three_plugins(site)
    monkeypatch.setenv("JAF_PLUGINS_LOAD", "")
    monkeypatch.setenv("JAF_PLUGINS_BLOCK", "wanted")
    async with PluginManager(autoload=True, load=["wanted"], block=[]) as pm:
        assert pm.get_status("wanted") is PluginStatus.ACTIVE
        assert pm.get_status("unwanted") is PluginStatus.DISABLED


@pytest.mark.anyio
async def test_autoload_off_discovers_nothing_until_asked(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = three_plugins(site)
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "0")

    async with PluginManager() as pm:
        assert entry_point_infos(pm) == {}
        assert not any(imported(module) for module in modules.values())
        loaded = await pm.discover()
        assert {"wanted", "unwanted", "blocked"} <= set(loaded)
        assert pm.get_status("wanted") is PluginStatus.INACTIVE
        await pm.activate_all()
        assert pm.get_status("wanted") is PluginStatus.ACTIVE
    assert pm.get_status("wanted") is PluginStatus.INACTIVE


@pytest.mark.anyio
async def test_autoload_on_from_environment(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    three_plugins(site)
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "1")
    async with PluginManager() as pm:
        assert pm.get_status("wanted") is PluginStatus.ACTIVE


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JAF_PLUGINS_TIMEOUT", "abc"),
        ("JAF_PLUGINS_TIMEOUT", "0"),
        ("JAF_PLUGINS_EVENT_TIMEOUT", "-1"),
        ("JAF_PLUGINS_AUTOLOAD", "maybe"),
    ],
)
def test_invalid_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        PluginManager()
    message = str(caught.value)
    assert f"environment variable {variable}" in message
    assert repr(value) in message
    assert f"Fix: set {variable} to a valid value, or unset it" in message


def test_invalid_argument_is_named_as_an_argument() -> None:
    with pytest.raises(SettingsError) as caught:
        PluginManager(timeout=-1)
    assert str(caught.value) == (
        "invalid host settings: timeout from PluginManager(timeout=...): "
        "Input should be greater than 0 (got -1). "
        "Fix: pass a valid value in PluginManager(timeout=...)"
    )


# -- plugin folders -------------------------------------------------------------------------

FOLDER = {
    "alpha.py": """
        from jaf_plugins import Plugin

        class AlphaPlugin(Plugin):
            pass
    """,
    "beta/__init__.py": """
        from jaf_plugins import Tool, ToolPlugin

        from .helpers import shout

        @Tool(name="shout", description="Shout a text")
        def shout_tool(text: str) -> str:
            return shout(text)

        class BetaPlugin(ToolPlugin):
            def get_tools(self) -> list[Tool]:
                return [shout_tool]
    """,
    "beta/helpers.py": """
        def shout(text: str) -> str:
            return text.upper() + "!"
    """,
    "hooks.py": '''
        """Counts events.

        Not part of the description.
        """

        from jaf_plugins import hookimpl

        @hookimpl
        def on_event(event):
            return f"seen {event.name}"
    ''',
    "family.py": """
        from jaf_plugins import Plugin

        built = []

        class BaseFamilyPlugin(Plugin):
            def __init__(self) -> None:
                super().__init__()
                built.append(type(self).__name__)

        class LeafPlugin(BaseFamilyPlugin):
            pass
    """,
    "broken.py": "x = 1\n\ndef oops(:\n    pass\n",
    "_private.py": "raise RuntimeError('files starting with _ must not be imported')\n",
    "_helpers/__init__.py": "raise RuntimeError('packages starting with _ too')\n",
    ".hidden.py": "raise RuntimeError('hidden files must not be imported')\n",
    "notes.txt": "not python\n",
    "empty_dir/README": "a folder without __init__.py is not a package\n",
}


def write_folder(folder: Path, files: Mapping[str, str]) -> Path:
    for relative, source in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def plugin_folder(tmp_path: Path, make_site: Callable[[], Site]) -> Path:
    """The folder above; ``make_site`` is used for its cleanup of ``sys.modules``."""
    return write_folder(tmp_path / "plugins", FOLDER)


@pytest.mark.anyio
async def test_folder_of_files_and_packages(plugin_folder: Path) -> None:
    pm = PluginManager()
    loaded = await pm.load_plugins_from_directory(plugin_folder)

    assert sorted(loaded) == ["alpha_plugin", "beta_plugin", "hooks", "leaf_plugin"]
    assert sorted(n for n in pm.plugin_names if n not in ("core", "tools")) == [
        "alpha_plugin",
        "beta_plugin",
        "broken",
        "hooks",
        "leaf_plugin",
    ]
    leaf = pm.get_plugin("leaf_plugin")
    assert leaf is not None
    assert sys.modules[type(leaf).__module__].built == ["LeafPlugin"]
    hooks = pm.get_plugin("hooks")
    assert hooks is not None
    assert hooks.metadata.description == "Counts events."
    info = pm.get_info("alpha_plugin")
    assert info is not None
    assert (info.source, info.target, info.version) == (
        "directory",
        str(plugin_folder / "alpha.py"),
        "0.0.0",
    )

    async with pm:
        assert pm.get_status("broken") is PluginStatus.FAILED
        for name in loaded:
            assert pm.get_status(name) is PluginStatus.ACTIVE
        shout = pm.get_tool("shout")
        assert shout is not None
        assert await shout.execute({"text": "hi"}) == "HI!"
        outcome = await pm.emit_event("ping")
        assert ("hooks", "seen ping") in [(r.plugin, r.value) for r in outcome.results]


@pytest.mark.anyio
async def test_folder_file_with_syntax_error_names_the_line(plugin_folder: Path) -> None:
    pm = PluginManager()
    await pm.load_plugins_from_directory(plugin_folder)

    assert pm.get_status("broken") is PluginStatus.FAILED
    error = pm.get_error("broken")
    assert error is not None
    assert "SyntaxError" in error
    assert f"Fix: correct the syntax error at line 3 of {plugin_folder / 'broken.py'}" in error


@pytest.mark.anyio
async def test_folder_skips_private_and_hidden_names(plugin_folder: Path) -> None:
    pm = PluginManager()
    await pm.load_plugins_from_directory(plugin_folder)

    for skipped in ("_private", "_helpers", ".hidden", "notes", "empty_dir"):
        assert pm.get_status(skipped) is None
    seen = imported_files(plugin_folder)
    assert "alpha.py" in seen
    assert not {"_private.py", "_helpers/__init__.py", ".hidden.py"} & seen


@pytest.mark.anyio
@pytest.mark.parametrize("what", ["missing", "file"])
async def test_folder_that_is_not_a_folder_raises(tmp_path: Path, what: str) -> None:
    path = tmp_path / "nowhere"
    if what == "file":
        path.write_text("")
    pm = PluginManager()
    with pytest.raises(PluginLoadError) as caught:
        await pm.load_plugins_from_directory(path)
    assert repr(str(path)) in str(caught.value)
    assert "does not exist or is not a directory" in str(caught.value)
    assert "Fix: " in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["argument", "environment"])
async def test_folder_plugin_is_allowed_by_its_file_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """``greet.py`` defines ``GreetPlugin`` (name ``greet_plugin``). The allowlist is matched
    before import, so it sees the file name: ``greet`` loads it, ``greet_plugin`` alone does not
    even import the file, and the DISABLED note says why."""
    folder = write_folder(
        tmp_path / "plugins",
        {
            "greet.py": GOOD.replace("Good", "Greet")
            + "\n    import builtins\n    builtins.GREET_RAN = 1\n"
        },
    )

    def manager(names: str) -> PluginManager:
        if via == "argument":
            return PluginManager(load=names.split(","))
        monkeypatch.setenv("JAF_PLUGINS_LOAD", names)
        return PluginManager()

    pm = manager("greet_plugin")
    assert await pm.load_plugins_from_directory(folder) == []
    assert not hasattr(builtins, "GREET_RAN")
    info = pm.get_info("greet")
    assert info is not None and info.status is PluginStatus.DISABLED
    assert "file name 'greet'" in (info.note or "")

    pm = manager("greet")
    assert await pm.load_plugins_from_directory(folder) == ["greet_plugin"]
    del builtins.GREET_RAN  # type: ignore[attr-defined]
    async with pm:
        assert pm.get_status("greet_plugin") is PluginStatus.ACTIVE


@pytest.mark.anyio
async def test_folder_plugin_is_blocked_by_its_own_name_after_import(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "plugins", {"greet.py": GOOD.replace("Good", "Greet")})
    pm = PluginManager(block=["greet_plugin"])
    assert await pm.load_plugins_from_directory(folder) == []
    assert pm.get_status("greet_plugin") is PluginStatus.DISABLED


@pytest.mark.anyio
async def test_an_explicit_plugin_may_take_the_name_of_a_disabled_installed_one(site: Site) -> None:
    """A stand-in loaded by the test kit (or your code) replaces an installed plugin that
    the allowlist kept out; it never ran."""
    module = site.module("mail", "raise RuntimeError('the real one must not be imported')\n")
    site.distribution("jaf-test-mail", "1.0", {"email_plugin": f"{module}:Plugin"})

    class StandIn(Plugin):
        pass

    pm = PluginManager(autoload=True, load=["nothing"])
    await pm.discover()
    assert pm.get_status("email_plugin") is PluginStatus.DISABLED
    await pm.load_plugin("email_plugin", StandIn())
    async with pm:
        assert pm.get_status("email_plugin") is PluginStatus.ACTIVE
        assert isinstance(pm.get_plugin("email_plugin"), StandIn)
    assert module not in sys.modules


@pytest.mark.anyio
async def test_a_blocked_plugin_whose_name_is_taken_is_a_problem_not_a_crash(
    tmp_path: Path,
) -> None:
    """A folder plugin named like an already loaded one, and blocked: reported, not raised."""
    folder = write_folder(tmp_path / "plugins", {"taken.py": GOOD})
    pm = PluginManager(block=["taken"])

    class Taken(Plugin):
        pass

    await pm.load_plugin("taken", Taken())
    assert await pm.load_plugins_from_directory(folder) == []
    assert pm.get_status("taken") is PluginStatus.INACTIVE
    assert [problem.plugin for problem in pm.problems] == ["taken"]
