"""The manager's lifecycle guarantees, through the public API."""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import anyio
import pytest

from jaf_plugins import (
    DuplicatePluginError,
    Plugin,
    PluginContext,
    PluginDependency,
    PluginManager,
    PluginMetadata,
    PluginNotFoundError,
    PluginStatus,
    PluginValidationError,
    Tool,
    ToolConflictError,
    ToolPlugin,
    __version__,
    hookimpl,
)

pytestmark = pytest.mark.anyio


class Recorder(Plugin):
    """A plugin whose steps are logged, and can be told to fail or stall."""

    def __init__(
        self,
        name: str,
        log: list[tuple[str, str]],
        deps: list[str | PluginDependency] | None = None,
        fail: str | None = None,
        how: str = "raise",
    ) -> None:
        super().__init__()
        self.metadata = PluginMetadata(name=name, version="1.0.0", dependencies=deps or [])
        self.log, self.fail, self.how = log, fail, how
        self.context: PluginContext | None = None

    async def _step(self, step: str) -> bool:
        self.log.append((step, self.metadata.name))
        if self.fail == step:
            if self.how == "raise":
                raise RuntimeError(f"{step} exploded")
            if self.how == "stall":
                await anyio.sleep(10)
            return False
        return True

    async def initialize(self, context: PluginContext) -> bool:
        self.context = context
        return await self._step("initialize")

    async def activate(self) -> bool:
        return await self._step("activate")

    async def deactivate(self) -> bool:
        return await self._step("deactivate")


async def load(pm: PluginManager, *plugins: Plugin) -> None:
    for plugin in plugins:
        await pm.load_plugin(plugin.metadata.name, plugin)


async def test_spec_manager_snippet_runs() -> None:
    log: list[tuple[str, str]] = []
    plugin_manager = PluginManager()
    await plugin_manager.load_plugin("custom_plugin", Recorder("custom_plugin", log, ["core"]))
    loaded_plugins = plugin_manager.get_loaded_plugins()
    assert [p.metadata.name for p in loaded_plugins] == ["custom_plugin"]
    await plugin_manager.activate_all()
    custom_plugin = plugin_manager.get_plugin("custom_plugin")
    assert custom_plugin is not None
    assert custom_plugin.status is PluginStatus.ACTIVE
    await plugin_manager.deactivate_all()
    assert custom_plugin.status is PluginStatus.INACTIVE
    assert log == [
        ("initialize", "custom_plugin"),
        ("activate", "custom_plugin"),
        ("deactivate", "custom_plugin"),
    ]


async def test_dependencies_start_first_and_stop_last() -> None:
    log: list[tuple[str, str]] = []
    pm = PluginManager()
    # loaded in the "wrong" order on purpose
    await load(pm, Recorder("app", log, ["db", "auth"]), Recorder("auth", log, ["db"]))
    await load(pm, Recorder("db", log))
    async with pm:
        assert pm.activation_order == ["db", "auth", "app"]
    assert [name for step, name in log if step == "deactivate"] == ["app", "auth", "db"]


@pytest.mark.parametrize("how", ["raise", "false", "stall"])
async def test_failed_initialize_fails_the_plugin_and_skips_dependents(how: str) -> None:
    log: list[tuple[str, str]] = []
    pm = PluginManager(timeout=0.2)
    await load(
        pm,
        Recorder("db", log, fail="initialize", how=how),
        Recorder("app", log, ["db"]),
        Recorder("other", log),
    )
    async with pm:
        assert pm.get_status("db") is PluginStatus.FAILED
        assert pm.get_status("app") is PluginStatus.SKIPPED
        assert pm.get_status("other") is PluginStatus.ACTIVE
        expected = {"raise": "initialize exploded", "false": "returned False", "stall": "0.2s"}
        assert expected[how] in (pm.get_error("db") or "")
        assert "'db'" in (pm.get_error("app") or "")
        assert pm.get_error("other") is None
    assert ("initialize", "app") not in log
    assert ("deactivate", "db") not in log  # never initialized: nothing to deactivate


async def test_traceback_is_kept_for_a_raising_plugin() -> None:
    pm = PluginManager()
    await load(pm, Recorder("db", [], fail="initialize"))
    await pm.activate_all()
    assert "RuntimeError: initialize exploded" in (pm.get_traceback("db") or "")


async def test_initialized_plugin_that_fails_to_activate_is_deactivated() -> None:
    log: list[tuple[str, str]] = []
    cleaned: list[str] = []

    class Pooled(Recorder):
        async def initialize(self, context: PluginContext) -> bool:
            context.add_cleanup(lambda: cleaned.append("pool closed"))
            return await super().initialize(context)

    pm = PluginManager()
    await load(pm, Pooled("db", log, fail="activate"))
    async with pm:
        assert pm.get_status("db") is PluginStatus.FAILED
    assert log == [("initialize", "db"), ("activate", "db"), ("deactivate", "db")]
    assert cleaned == ["pool closed"]


async def test_cleanups_run_when_initialize_fails_midway() -> None:
    released: list[str] = []

    class Leaky(Plugin):
        async def initialize(self, context: PluginContext) -> bool:
            context.add_cleanup(lambda: released.append("socket"))

            async def close_file() -> None:
                released.append("file")

            context.add_cleanup(close_file)
            raise ConnectionError("server went away")

    pm = PluginManager()
    await pm.load_plugin("leaky", Leaky())
    await pm.activate_all()
    assert pm.get_status("leaky") is PluginStatus.FAILED
    assert released == ["file", "socket"]  # last in, first out


async def test_each_plugin_starts_as_soon_as_its_own_dependencies_are_active() -> None:
    """slow_root gates only its own child; fast_child's chain is not held back by it."""
    events: list[str] = []

    class Timed(Plugin):
        def __init__(self, name: str, delay: float, deps: list[str]) -> None:
            super().__init__()
            self.metadata = PluginMetadata(name=name, dependencies=list(deps))
            self.delay = delay

        async def initialize(self, context: PluginContext) -> bool:
            await anyio.sleep(self.delay)
            events.append(self.metadata.name)
            return True

    pm = PluginManager()
    for plugin in (
        Timed("slow_root", 0.3, []),
        Timed("slow_child", 0.0, ["slow_root"]),
        Timed("fast_root", 0.0, []),
        Timed("fast_child", 0.05, ["fast_root"]),
        Timed("fast_grandchild", 0.05, ["fast_child"]),
    ):
        await pm.load_plugin(plugin.metadata.name, plugin)
    await pm.activate_all()
    # Level-by-level scheduling would hold fast_child until slow_root finished.
    assert events.index("fast_grandchild") < events.index("slow_root")
    assert events[-1] == "slow_child"


async def test_deactivate_all_runs_even_when_the_surrounding_task_is_cancelled() -> None:
    log: list[tuple[str, str]] = []
    pm = PluginManager()
    await load(pm, Recorder("a", log), Recorder("b", log, ["a"]))
    with anyio.CancelScope() as scope:
        async with pm:
            scope.cancel()
            await anyio.sleep(1)  # cancelled here; __aexit__ must still tear down
    assert scope.cancelled_caught
    assert [name for step, name in log if step == "deactivate"] == ["b", "a"]
    assert pm.get_status("a") is PluginStatus.INACTIVE


async def test_a_stalled_deactivate_is_cut_by_its_timeout_and_others_still_stop() -> None:
    log: list[tuple[str, str]] = []
    pm = PluginManager(timeout=0.1)
    await load(pm, Recorder("a", log), Recorder("b", log, fail="deactivate", how="stall"))
    async with pm:
        pass
    assert pm.get_status("b") is PluginStatus.FAILED
    assert "deactivate did not finish within 0.1s" in (pm.get_error("b") or "")
    assert pm.get_status("a") is PluginStatus.INACTIVE


async def test_stalls_among_many_plugins_fail_only_the_stalled_ones_and_are_told_once() -> None:
    """Plugins start and stop in runs that share one deadline: a step that runs out of
    time fails its own plugin (cleaned up, observers told once) and the run goes on."""
    seen: list[tuple[str, str]] = []
    observer = types.ModuleType("observer")

    @hookimpl
    def on_plugin_failed(name: str) -> None:
        seen.append(("failed", name))

    @hookimpl
    def on_plugin_deactivated(name: str) -> None:
        seen.append(("deactivated", name))

    observer.on_plugin_failed = on_plugin_failed  # type: ignore[attr-defined]
    observer.on_plugin_deactivated = on_plugin_deactivated  # type: ignore[attr-defined]
    log: list[tuple[str, str]] = []
    pm = PluginManager(timeout=0.2)
    await pm.load_plugin("observer", observer)
    stall_start, stall_stop = {"p03", "p11"}, {"p07", "p15"}
    plugins = [
        Recorder(
            f"p{i:02d}",
            log,
            ["p03"] if i == 4 else None,
            fail="initialize"
            if f"p{i:02d}" in stall_start
            else "deactivate"
            if f"p{i:02d}" in stall_stop
            else None,
            how="stall",
        )
        for i in range(20)
    ]
    await load(pm, *plugins)
    released: list[str] = []
    async with pm:
        for plugin in plugins:
            name = plugin.metadata.name
            if plugin.context is not None:
                plugin.context.add_cleanup(lambda name=name: released.append(name))
        for name in stall_start:
            assert pm.get_status(name) is PluginStatus.FAILED
            assert "initialize did not finish within 0.2s" in (pm.get_error(name) or "")
        assert pm.get_status("p04") is PluginStatus.SKIPPED
        assert "'p03'" in (pm.get_error("p04") or "")
        started = {p.metadata.name for p in plugins} - stall_start - {"p04"}
        assert {n for n in started if pm.get_status(n) is PluginStatus.ACTIVE} == started
    for name in stall_stop:
        assert pm.get_status(name) is PluginStatus.FAILED
        assert "deactivate did not finish within 0.2s" in (pm.get_error(name) or "")
    assert {n for n in started - stall_stop if pm.get_status(n) is PluginStatus.INACTIVE} == (
        started - stall_stop
    )
    assert sorted(released) == sorted(started)  # cleanups ran, stalled deactivate or not
    failed = [name for what, name in seen if what == "failed"]
    assert sorted(failed) == sorted({*stall_start, "p04"})
    deactivated = [name for what, name in seen if what == "deactivated"]
    assert sorted(deactivated) == sorted(started)


async def test_activate_plugin_pulls_in_its_dependencies_only() -> None:
    log: list[tuple[str, str]] = []
    pm = PluginManager()
    await load(pm, Recorder("db", log), Recorder("app", log, ["db"]), Recorder("other", log))
    assert await pm.activate_plugin("app")
    assert pm.activation_order == ["db", "app"]
    assert pm.get_status("other") is PluginStatus.INACTIVE
    await pm.deactivate_plugin("db")  # takes its dependent down first
    assert [n for s, n in log if s == "deactivate"] == ["app", "db"]
    with pytest.raises(PluginNotFoundError, match="no plugin named 'nope'"):
        await pm.activate_plugin("nope")


async def test_unknown_names_give_none() -> None:
    pm = PluginManager()
    assert pm.get_plugin("nope") is None
    assert pm.get_status("nope") is None
    assert pm.get_error("nope") is None
    assert pm.get_tool("nope") is None
    assert pm.get_agent("nope") is None


async def test_builtin_core_pins_the_host_version() -> None:
    pm = PluginManager()
    await load(
        pm,
        Recorder("ok", [], [PluginDependency("core", f"=={__version__}")]),
        Recorder("too_new", [], [PluginDependency("core", ">=99")]),
    )
    await pm.activate_all()
    assert pm.get_status("ok") is PluginStatus.ACTIVE
    assert pm.get_status("too_new") is PluginStatus.FAILED
    error = pm.get_error("too_new") or ""
    assert "core>=99" in error and __version__ in error
    ok = pm.get_plugin("ok")
    assert isinstance(ok, Recorder) and ok.context is not None
    core = ok.context.get_dependency("core")
    assert getattr(core, "manager", None) is pm


async def test_graph_errors_name_everyone_involved() -> None:
    pm = PluginManager()
    await load(
        pm,
        Recorder("a", [], ["b"]),
        Recorder("b", [], ["c"]),
        Recorder("c", [], ["a"]),
        Recorder("needs_ghost", [], ["ghost"]),
        Recorder("narcissus", [], ["narcissus"]),
        Recorder("after_cycle", [], ["a"]),
    )
    await pm.activate_all()
    for name in "abc":
        assert pm.get_status(name) is PluginStatus.FAILED
        assert "a -> b -> c -> a" in (pm.get_error(name) or "")
    assert "requires 'ghost'" in (pm.get_error("needs_ghost") or "")
    assert "depends on itself" in (pm.get_error("narcissus") or "")
    assert pm.get_status("after_cycle") is PluginStatus.SKIPPED


async def test_optional_dependency_absent_or_failed_is_none() -> None:
    seen: dict[str, Any] = {}

    class Wants(Plugin):
        def __init__(self) -> None:
            super().__init__()
            self.metadata.dependencies = [
                PluginDependency("broken", optional=True),
                PluginDependency("absent", ">=1", optional=True),
            ]

        async def initialize(self, context: PluginContext) -> bool:
            seen["broken"] = context.get_dependency("broken", required=False)
            seen["absent"] = context.get_dependency("absent", required=False)
            return True

    pm = PluginManager()
    await pm.load_plugin("wants", Wants())
    await load(pm, Recorder("broken", [], fail="initialize"))
    await pm.activate_all()
    assert pm.get_status("wants") is PluginStatus.ACTIVE
    assert seen == {"broken": None, "absent": None}
    # the optional dependency still orders: broken was tried first
    assert pm.get_status("broken") is PluginStatus.FAILED


async def test_same_tool_name_from_two_plugins_is_an_error_naming_both() -> None:
    def weather_plugin(name: str) -> ToolPlugin:
        class Weather(ToolPlugin):
            def get_tools(self) -> list[Tool]:
                @Tool(name="forecast", description=f"from {name}")
                def forecast(city: str) -> str:
                    return f"{name}:{city}"

                return [forecast]

        plugin = Weather()
        plugin.metadata.name = name
        return plugin

    pm = PluginManager()
    await load(pm, weather_plugin("met_office"), weather_plugin("noaa"))
    await pm.activate_all()
    with pytest.raises(ToolConflictError, match="'met_office', 'noaa'"):
        pm.get_tool("forecast")
    tool = pm.get_tool("noaa:forecast")
    assert tool is not None and tool("Oslo") == "noaa:Oslo"
    assert sorted((t.plugin, t.name) for t in pm.list_tools()) == [
        ("met_office", "forecast"),
        ("noaa", "forecast"),
    ]
    await pm.deactivate_plugin("noaa")
    only = pm.get_tool("forecast")
    assert only is not None and only.plugin == "met_office"


async def test_tools_and_agents_from_attributes_and_hooks_are_withdrawn_on_deactivate() -> None:
    from jaf_plugins import Agent

    class Mail(Plugin):
        async def activate(self) -> bool:
            @Tool(name="send_email", description="Send")
            async def send_email(to: str) -> dict[str, Any]:
                return {"success": True, "to": to}

            self.tools = [send_email]
            self.agents = [Agent(name="EmailAgent", instructions=lambda s: "hi", tools=self.tools)]
            return True

    pm = PluginManager()
    await pm.load_plugin("mail", Mail())
    async with pm:
        tool = pm.get_tool("send_email")
        assert tool is not None
        assert await tool(to="a@example.com") == {"success": True, "to": "a@example.com"}
        agent = pm.get_agent("EmailAgent")
        assert agent is not None and agent.plugin == "mail"
    assert pm.get_tool("send_email") is None
    assert pm.get_agent("EmailAgent") is None


async def test_module_plugin_and_observer_hooks() -> None:
    seen: list[tuple[str, str]] = []
    observer = types.ModuleType("observer")
    observer.__doc__ = "Watches the host."

    @hookimpl
    def on_plugin_activated(name: str) -> None:
        seen.append(("activated", name))

    @hookimpl
    async def on_plugin_failed(name: str, reason: str) -> None:
        seen.append(("failed", name))

    @hookimpl
    def on_host_stopping() -> None:
        seen.append(("stopping", "host"))

    for fn in (on_plugin_activated, on_plugin_failed, on_host_stopping):
        setattr(observer, fn.__name__, fn)
    pm = PluginManager()
    await pm.load_plugin("observer", observer)
    await load(
        pm,
        Recorder("z_good", [], ["observer"]),
        Recorder("z_bad", [], ["observer"], "activate"),
    )
    async with pm:
        info = pm.get_info("observer")
        assert info is not None and info.description == "Watches the host."
        assert info.hooks == ("on_host_stopping", "on_plugin_activated", "on_plugin_failed")
    assert ("activated", "z_good") in seen and ("failed", "z_bad") in seen
    assert seen[-1] == ("stopping", "host")


async def test_explicit_load_rejects_bad_input_with_clear_errors() -> None:
    pm = PluginManager()
    await load(pm, Recorder("db", []))
    with pytest.raises(DuplicatePluginError, match="already taken"):
        await load(pm, Recorder("db", []))
    with pytest.raises(PluginValidationError, match="invalid plugin name"):
        await load(pm, Recorder("bad name!", []))
    bad = Recorder("versioned", [])
    bad.metadata.version = "one point oh"
    with pytest.raises(PluginValidationError, match="PEP 440"):
        await load(pm, bad)
    with pytest.raises(PluginValidationError, match=r"metadata\.name is 'db'"):
        await pm.load_plugin("other_name", Recorder("db", []))

    class Sloppy(Plugin):
        def __init__(self) -> None:  # forgets super().__init__()
            pass

    with pytest.raises(PluginValidationError, match="super"):
        await pm.load_plugin("sloppy", Sloppy())

    class WrongHook(Plugin):
        async def initialize(self, ctx: PluginContext) -> bool:  # type: ignore[override]
            return True

    with pytest.raises(PluginValidationError, match="initialize"):
        await pm.load_plugin("wrong_hook", WrongHook())
    assert pm.plugin_names == ["core", "tools", "db"]  # nothing half-registered


async def test_cancelled_during_activation_releases_everything_already_set_up() -> None:
    log: list[tuple[str, str]] = []
    released: list[str] = []

    class Hangs(Recorder):
        async def initialize(self, context: PluginContext) -> bool:
            context.add_cleanup(lambda: released.append(self.metadata.name))
            await super().initialize(context)
            await anyio.sleep(10)
            return True

    pm = PluginManager()
    await load(pm, Recorder("fast", log), Hangs("hangs", log))
    with anyio.move_on_after(0.2) as scope:
        async with pm:
            pytest.fail("activation cannot have finished")
    assert scope.cancelled_caught
    assert released == ["hangs"]
    assert ("deactivate", "fast") in log  # the active one was torn down too
    assert pm.get_status("fast") is PluginStatus.INACTIVE
    assert pm.get_status("hangs") is PluginStatus.FAILED
    assert "cancelled while initializing" in (pm.get_error("hangs") or "")


GRUMPY = """
import anyio
from jaf_plugins import Plugin, PluginManager, PluginMetadata

class Grumpy(Plugin):
    def __init__(self):
        super().__init__()
        self.metadata = PluginMetadata(name="grumpy", version="1.0.0")

    async def initialize(self, context):
        context.logger.warning("warned during initialize")
        logging.getLogger("jaf.plugins.grumpy.db").error("no database")
        return False

async def main():
    pm = PluginManager(autoload=False)
    await pm.load_plugin("grumpy", Grumpy())
    await pm.activate_all()

import logging
anyio.run(main)
"""


def test_without_logging_configured_a_plugins_records_still_reach_stderr() -> None:
    """The host listens to plugins' logs during their steps (to explain ``return False``)
    without keeping Python's last-resort handler from printing them."""
    proc = subprocess.run(
        [sys.executable, "-c", GRUMPY], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stderr.splitlines() == [
        "warned during initialize",
        "no database",
        "plugin 'grumpy': initialize returned False after logging: no database. "
        "Fix: see the plugin's log (logger 'jaf.plugins.grumpy')",
    ]
