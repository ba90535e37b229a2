"""A test kit for plugin authors: pytest fixtures, helpers, and a conformance suite.

Installed with jaf-plugins and registered as a pytest plugin (``pytest11`` entry point), so
in a plugin's own tests::

    from jaf_plugins.testing import PluginConformance

    class TestWeatherConformance(PluginConformance):
        plugin = "weather_tools"            # an installed entry point, or a Plugin class/object

and ``pytest`` runs every conformance check against it, on asyncio and trio. The
``jaf_host`` fixture builds a manager that sees only the plugins a test names::

    async def test_forecast(jaf_host):
        async with jaf_host("weather_tools") as pm:
            assert (await call_tool(pm, "get_weather_forecast", location="Paris"))["forecast"]
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from ._calling import await_maybe
from ._discovery import entry_point_candidates
from ._events import EventOutcome
from ._manager import PluginManager
from ._plugin import Plugin, PluginStatus, default_plugin_name

__all__ = [
    "HostFactory",
    "PluginConformance",
    "call_tool",
    "conformance_suite_for",
    "emit",
    "installed_plugin_names",
    "jaf_host",
]

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What model providers accept as a function name (OpenAI's rule, the strictest)."""


# -- fixtures and helpers -----------------------------------------------------------------


class HostFactory:
    """Builds managers that see only the plugins a test names, whatever else is installed."""

    def __init__(self) -> None:
        self.managers: list[PluginManager] = []

    def __call__(
        self,
        *plugins: str | object,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> _Host:
        """``plugins``: installed entry-point names, or plugin objects (class, instance,
        factory, module). ``options`` go to ``PluginManager`` (e.g. ``timeout=``)."""
        names = [p for p in plugins if isinstance(p, str)]
        objects = [p for p in plugins if not isinstance(p, str)]
        pm = PluginManager(autoload=False, load=names, config=config, **options)
        self.managers.append(pm)
        return _Host(pm, bool(names), objects)


class _Host:
    """``async with jaf_host(...) as pm``: loads, activates, and always deactivates."""

    def __init__(self, pm: PluginManager, discover: bool, objects: list[object]) -> None:
        self.pm, self._discover, self._objects = pm, discover, objects

    async def load(self) -> PluginManager:
        """Load the plugins without activating them."""
        if self._discover:
            await self.pm.discover()
        for obj in self._objects:
            await self.pm.load_plugin(plugin_name_of(obj), obj)
        return self.pm

    async def __aenter__(self) -> PluginManager:
        await self.load()
        await self.pm.__aenter__()
        return self.pm

    async def __aexit__(self, *exc_info: object) -> None:
        await self.pm.deactivate_all()


def plugin_name_of(obj: object) -> str:
    """The name a plugin object would have: its metadata's, its class's, or its module's."""
    if isinstance(obj, Plugin):
        return obj.metadata.name
    if isinstance(obj, type):
        return default_plugin_name(obj)
    name = getattr(obj, "__name__", None)
    if isinstance(name, str):
        return name.rpartition(".")[2]
    return default_plugin_name(type(obj))


@pytest.fixture
def jaf_host(monkeypatch: pytest.MonkeyPatch) -> HostFactory:
    """A factory of isolated managers: no ``JAF_PLUGINS_*`` variables from the outside, no
    entry-point autoload, and only the plugins named. Use ``async with jaf_host(...) as pm``."""
    for name in list(os.environ):
        if name.upper().startswith("JAF_PLUGINS_"):
            monkeypatch.delenv(name)
    return HostFactory()


async def call_tool(pm: PluginManager, name: str, /, **arguments: Any) -> Any:
    """Call tool ``name`` (``plugin:name`` works too) with validated ``arguments``."""
    tool = pm.get_tool(name)
    if tool is None:
        known = sorted(f"{t.plugin}:{t.name}" for t in pm.list_tools())
        raise LookupError(f"no tool {name!r}; active tools: {', '.join(known) or 'none'}")
    return await await_maybe(tool(**arguments))


async def emit(pm: PluginManager, name: str, data: Any = None) -> EventOutcome:
    """Emit an event and fail the test if any handler failed, naming each one and why."""
    outcome = await pm.emit_event(name, data)
    failed = [f"{r.plugin}.{r.handler}: {r.error!r}" for r in outcome.failed]
    if failed:
        pytest.fail(f"event {name!r}: handlers failed: {'; '.join(failed)}")
    return outcome


def installed_plugin_names() -> list[str]:
    """Every installed ``jaf.plugins`` entry point's name, without importing any of them."""
    return sorted({candidate.name for candidate in entry_point_candidates()})


# -- the conformance suite ----------------------------------------------------------------


def _process_resources() -> dict[str, set[str]]:
    """What a plugin could leave open: file descriptors (where the OS lists them), threads
    other than the event loop's own reusable workers, and tasks."""
    fd_dir = Path("/proc/self/fd")
    return {
        "open file descriptors": set(os.listdir(fd_dir)) if fd_dir.is_dir() else set(),
        "threads": {
            f"{t.name} ({t.ident})"
            for t in threading.enumerate()
            if not t.name.startswith(_LOOP_WORKERS)
        },
        "tasks": {f"{t.name} ({t.id})" for t in anyio.get_running_tasks()},
    }


_LOOP_WORKERS = ("asyncio_", "AnyIO worker thread", "Trio thread", "trio-")
"""Idle pool threads the event loop keeps for reuse: not a plugin's to release."""


class PluginConformance:
    """Subclass it, set ``plugin``, and pytest checks that the plugin behaves as a jaf
    plugin must. Each check is its own test, on asyncio and trio:

    * its metadata is valid (name, PEP 440 version, a description, parseable dependencies);
    * its hook implementations match the hook specifications;
    * it activates and deactivates cleanly, twice over;
    * deactivation gives back what activation took (file descriptors, threads, tasks);
    * every tool has a usable name, a description and a JSON schema;
    * it can be reloaded, and offers the same tools afterwards.

    ``plugin`` is an installed entry-point name or a plugin object; ``config`` gives its
    settings (``{"setting": value}``); ``dependencies`` names other plugins it needs (names
    or objects) and ``dependency_config`` their settings (``{"plugin": {...}}``); ``backends``
    narrows the event loops. Settings known only at run time (a test server's port): set
    them in an autouse fixture, or override ``host()``.

    The reload check imports the plugin's package again: classes imported at the top of a
    test module are then not the classes of the running plugin, so compare with the class
    of ``pm.get_plugin(name)`` rather than with ``isinstance`` against an old import.
    """

    plugin: ClassVar[str | object]
    config: ClassVar[Mapping[str, Any]] = {}
    dependencies: ClassVar[tuple[str | object, ...]] = ()
    dependency_config: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    """Settings of the dependencies, by plugin name."""
    backends: ClassVar[tuple[str, ...]] = ("asyncio", "trio")
    """The event loops the plugin supports (one built on an asyncio-only library: asyncio)."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        if request.param not in self.backends:
            pytest.skip(f"{self.plugin_name!r} supports only {', '.join(self.backends)}")
        if request.param == "trio":
            pytest.importorskip("trio")
        return str(request.param)

    @property
    def plugin_name(self) -> str:
        return self.plugin if isinstance(self.plugin, str) else plugin_name_of(self.plugin)

    def host(self, factory: HostFactory) -> _Host:
        config = {**self.dependency_config, self.plugin_name: dict(self.config)}
        return factory(self.plugin, *self.dependencies, config=config)

    def _assert_active(self, pm: PluginManager) -> None:
        status = pm.get_status(self.plugin_name)
        assert status is PluginStatus.ACTIVE, (
            f"plugin {self.plugin_name!r} is {status and status.value}: "
            f"{pm.get_error(self.plugin_name)}"
        )

    @pytest.mark.anyio
    async def test_metadata_is_valid(self, jaf_host: HostFactory) -> None:
        async with self.host(jaf_host) as pm:
            self._assert_active(pm)
            info = pm.get_info(self.plugin_name)
            assert info is not None and info.version
            assert info.description, (
                f"plugin {self.plugin_name!r} has no description: set metadata.description "
                "(or the distribution's summary / the module's docstring)"
            )

    @pytest.mark.anyio
    async def test_hooks_match_their_specifications(self, jaf_host: HostFactory) -> None:
        async with self.host(jaf_host) as pm:
            self._assert_active(pm)
            plugin = pm.get_plugin(self.plugin_name)
            assert plugin is not None
            hooks = pm._registry.pluggy.hook
            obj = plugin.hook_object()
            for attr in dir(obj):
                opts = pm._registry.pluggy.parse_hookimpl_opts(obj, attr)
                if opts is None:
                    continue
                name = opts.get("specname") or attr
                caller = getattr(hooks, name, None)
                assert caller is not None and caller.spec is not None, (
                    f"{attr} is marked @hookimpl but there is no hook {name!r}; "
                    "see jaf_plugins.hookspecs for the hooks there are"
                )

    @pytest.mark.anyio
    async def test_lifecycle_round_trips(self, jaf_host: HostFactory) -> None:
        host = self.host(jaf_host)
        async with host as pm:
            self._assert_active(pm)
            for _ in range(2):
                await pm.deactivate_plugin(self.plugin_name)
                assert pm.get_status(self.plugin_name) is PluginStatus.INACTIVE, pm.get_error(
                    self.plugin_name
                )
                assert await pm.activate_plugin(self.plugin_name), pm.get_error(self.plugin_name)
        assert pm.get_status(self.plugin_name) is PluginStatus.INACTIVE

    @pytest.mark.anyio
    async def test_deactivate_releases_what_activation_took(self, jaf_host: HostFactory) -> None:
        host = self.host(jaf_host)
        await host.load()
        pm = host.pm
        before = _process_resources()
        await pm.activate_all()
        self._assert_active(pm)
        await pm.deactivate_all()
        await anyio.sleep(0.05)  # let closed transports finish closing
        after = _process_resources()
        leaked = [
            f"{kind}: {', '.join(sorted(after[kind] - before[kind]))}"
            for kind in after
            if after[kind] - before[kind]
        ]
        assert not leaked, (
            f"plugin {self.plugin_name!r} kept resources after deactivate: {'; '.join(leaked)}; "
            "release them in deactivate() or with context.add_cleanup()"
        )

    @pytest.mark.anyio
    async def test_tools_have_valid_schemas(self, jaf_host: HostFactory) -> None:
        import json

        async with self.host(jaf_host) as pm:
            self._assert_active(pm)
            tools = [t for t in pm.list_tools() if t.plugin == self.plugin_name]
            for tool in tools:
                assert TOOL_NAME.match(tool.name), (
                    f"tool name {tool.name!r} must match {TOOL_NAME.pattern} for model providers"
                )
                assert tool.description, f"tool {tool.name!r} has no description"
                schema = tool.json_schema
                json.dumps(schema)  # serialisable as sent to a model
                parameters = schema["parameters"]
                assert parameters.get("type") == "object", parameters
                assert set(parameters.get("required", [])) <= set(parameters.get("properties", {}))

    @pytest.mark.anyio
    async def test_reload_keeps_it_working(self, jaf_host: HostFactory) -> None:
        async with self.host(jaf_host) as pm:
            self._assert_active(pm)
            tools_before = sorted(t.name for t in pm.list_tools() if t.plugin == self.plugin_name)
            await pm.reload_plugin(self.plugin_name)
            self._assert_active(pm)
            tools_after = sorted(t.name for t in pm.list_tools() if t.plugin == self.plugin_name)
            assert tools_after == tools_before


def conformance_suite_for(plugin: str | object, **attributes: Any) -> type[PluginConformance]:
    """A ``PluginConformance`` subclass for ``plugin``, for generating suites in a loop."""
    name = plugin if isinstance(plugin, str) else plugin_name_of(plugin)
    namespace = {"plugin": plugin, **attributes}
    return type(f"TestConformance_{name}", (PluginConformance,), namespace)
