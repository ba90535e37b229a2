"""``PluginManager``: the public face of the host. Composes discovery, registry, lifecycle
and events; holds no logic of its own beyond deciding what to call."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pluggy
from packaging.version import Version

from . import _discovery
from ._agents import Agent
from ._builtins import CorePlugin, ToolsPlugin
from ._calling import call_impl
from ._context import PluginConfig, PluginContext
from ._discovery import Candidate
from ._errors import DuplicatePluginError, JafPluginsError, PluginNotFoundError, ReloadError
from ._events import EventBus, EventOutcome, PluginEvent, Subscription
from ._lifecycle import Lifecycle, is_startable
from ._plugin import Plugin, PluginStatus
from ._registry import BUILTIN_SOURCE, PluginInfo, PluginRecord, Registry
from ._reload import Reloader
from ._settings import SettingsFiles, load_host_settings, load_plugin_settings, path_setting
from ._tools import Tool

_logger = logging.getLogger("jaf.plugins")


class PluginManager:
    """Discovers, starts, stops and connects plugins.

    ``async with PluginManager() as pm:`` discovers installed entry-point plugins (unless
    autoload is off), activates everything, and deactivates it all on exit. Arguments left
    as ``None`` come from ``JAF_PLUGINS_*`` environment variables (see the README).
    """

    def __init__(
        self,
        *,
        enable_hot_reload: bool = False,
        autoload: bool | None = None,
        load: list[str] | str | None = None,
        block: list[str] | str | None = None,
        timeout: float | None = None,
        event_timeout: float | None = None,
        max_event_depth: int = 16,
        concurrent_events: bool = False,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        settings_file: str | os.PathLike[str] | None = None,
        env_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._files = SettingsFiles.find(
            env_file=path_setting(env_file, "ENV_FILE"),
            settings_file=path_setting(settings_file, "SETTINGS_FILE"),
        )
        self.settings = load_host_settings(
            self._files,
            autoload=autoload,
            load=load,
            block=block,
            timeout=timeout,
            event_timeout=event_timeout,
        )
        self.enable_hot_reload = enable_hot_reload
        self._config = {name: dict(values) for name, values in (config or {}).items()}
        self._registry = Registry()
        self._events = EventBus(
            timeout=self.settings.event_timeout,
            max_depth=max_event_depth,
            concurrent=concurrent_events,
        )
        self._events.set_source(self._subscriptions)
        self._lifecycle = Lifecycle(
            self._registry,
            timeout=self.settings.timeout,
            make_context=self._make_context,
            on_change=self._events.invalidate,
        )
        self._reloader = Reloader(
            self._registry,
            self._lifecycle,
            self._files,
            emit=self.emit_event,
            load_candidate=lambda c: self._load_candidate(c, bind_name=c.source != "directory"),
        )
        self._discovered = False
        for builtin in (CorePlugin(self), ToolsPlugin(self)):
            record = PluginRecord(
                name=builtin.metadata.name,
                source=BUILTIN_SOURCE,
                plugin=builtin,
                version=Version(builtin.metadata.version),
            )
            record.set_status(PluginStatus.ACTIVE)
            self._registry.records[record.name] = record

    # -- context manager ------------------------------------------------------------------

    async def __aenter__(self) -> PluginManager:
        try:
            await self.activate_all()
        except BaseException:
            await self.deactivate_all()  # __aexit__ will not run: release what started
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.deactivate_all()

    # -- loading --------------------------------------------------------------------------

    async def discover(self) -> list[str]:
        """Load every installed entry-point plugin allowed by the allow/block lists.

        Runs once per manager (again only after ``reload``); returns the names it loaded.
        A plugin that fails to import is recorded as FAILED, and the others carry on.
        """
        self._discovered = True
        loaded: list[str] = []
        for candidate in _discovery.entry_point_candidates():
            if candidate.name in self._registry.records:
                existing = self._registry.records[candidate.name]
                if existing.target == candidate.target:
                    continue
                self._problem(
                    DuplicatePluginError(
                        f"entry point {candidate.target!r} uses the name {candidate.name!r}, "
                        f"already taken by {existing.distribution or existing.target!r}",
                        plugin=candidate.name,
                        distribution=candidate.distribution,
                        hint="uninstall or block one of the two distributions",
                    )
                )
                continue
            loaded += self._load_candidate(candidate, bind_name=True)
        return loaded

    async def load_plugin(self, name: str, plugin: object) -> Plugin:
        """Load one plugin object (instance, class, factory or module) under ``name``.

        Invalid input raises a ``JafPluginsError`` naming what is wrong; the plugin is
        INACTIVE until activated. It may take the name of an installed plugin that the
        allow/block lists disabled; any other taken name is a ``DuplicatePluginError``.
        """
        candidate = Candidate(name=name, source="explicit", target=_describe_target(plugin))
        plugins = _discovery.plugins_from_object(plugin, candidate)
        if len(plugins) != 1:
            raise JafPluginsError(f"{candidate.target} holds {len(plugins)} plugins", plugin=name)
        disabled = self._registry.records.get(name)
        if disabled is not None and disabled.status is PluginStatus.DISABLED:
            # An installed plugin the allow/block lists kept out never ran: your code's
            # explicit choice takes its name.
            self._registry.unregister(disabled)
        record = self._registry.register(plugins[0], candidate, bind_name=True)
        assert record.plugin is not None
        self._wire(record.plugin)
        return record.plugin

    async def load_plugins_from_directory(self, path: str | os.PathLike[str]) -> list[str]:
        """Load every ``*.py`` file and package in ``path``; returns the names loaded."""
        loaded: list[str] = []
        for candidate in _discovery.directory_candidates(Path(path)):
            loaded += self._load_candidate(candidate, bind_name=False)
        return loaded

    def _load_candidate(self, candidate: Candidate, *, bind_name: bool) -> list[str]:
        note = self._filtered_out(candidate)
        if note is not None:
            try:
                self._registry.record_disabled(candidate, note)
            except DuplicatePluginError as exc:
                self._problem(exc)
            return []
        try:
            obj = _discovery.import_candidate(candidate)
            plugins = _discovery.plugins_from_object(obj, candidate)
        except JafPluginsError as exc:
            self._record_failure(candidate, exc)
            return []
        loaded = []
        for plugin in plugins:
            each = dataclasses.replace(candidate)
            try:
                record = self._registry.register(plugin, each, bind_name=bind_name)
            except DuplicatePluginError as exc:
                self._problem(exc)
                continue
            except JafPluginsError as exc:
                self._record_failure(each, exc)
                continue
            # The allowlist was checked before import (by entry-point or file name); the
            # blocklist is checked again so a plugin's own name can always block it.
            if (note := self._blocked(record.name)) is not None:
                self._registry.unregister(record)
                self._registry.record_disabled(each, note)
                continue
            self._wire(plugin)
            loaded.append(record.name)
        return loaded

    def _record_failure(self, candidate: Candidate, error: JafPluginsError) -> None:
        _logger.error("%s", error)
        try:
            self._registry.record_failure(candidate, error, PluginStatus.FAILED)
        except DuplicatePluginError as exc:
            self._problem(exc)

    def _problem(self, error: JafPluginsError) -> None:
        _logger.error("%s", error)
        self._registry.problems.append(error)

    def _blocked(self, name: str) -> str | None:
        return "blocked (JAF_PLUGINS_BLOCK / block=)" if name in self.settings.blocklist else None

    def _filtered_out(self, candidate: Candidate) -> str | None:
        if (note := self._blocked(candidate.name)) is not None:
            return note
        allow = self.settings.allowlist
        if allow is not None and candidate.name not in allow:
            where = "file" if candidate.source == "directory" else "entry-point"
            return (
                f"not in the allowlist (JAF_PLUGINS_LOAD / load=), "
                f"which is matched by {where} name {candidate.name!r} before import"
            )
        return None

    def _wire(self, plugin: Plugin) -> None:
        plugin._emitter = self._emit
        plugin._on_handlers_changed = self._events.invalidate

    # -- lifecycle ------------------------------------------------------------------------

    async def activate_all(self) -> None:
        """Discover entry points (once, if autoload is on) and activate every loaded plugin.

        Plugins that fail are marked FAILED, their dependents SKIPPED; the rest go on.
        """
        if self.settings.autoload and not self._discovered:
            await self.discover()
        self._files.refresh()  # settings as they are now, not as when the manager was built
        await self._lifecycle.start(
            name for name, rec in self._registry.records.items() if is_startable(rec)
        )
        await self._lifecycle.notify("on_host_started", manager=self)

    async def activate_plugin(self, name: str) -> bool:
        """Activate ``name`` and any inactive plugins it depends on; True if it is ACTIVE."""
        self._record(name)
        wanted, todo = set(), [name]
        while todo:
            current = todo.pop()
            rec = self._registry.records.get(current)
            if current in wanted or rec is None or not is_startable(rec):
                continue
            wanted.add(current)
            todo += [dep.name for dep in rec.dependencies]
        self._files.refresh()
        await self._lifecycle.start(wanted)
        return self._record(name).status is PluginStatus.ACTIVE

    async def deactivate_plugin(self, name: str) -> None:
        """Deactivate ``name``, after every active plugin that depends on it."""
        self._record(name)
        await self._lifecycle.stop(self._lifecycle.dependents_of([name]))

    async def deactivate_all(self) -> None:
        """Deactivate every active plugin in reverse activation order, even when cancelled.

        File watchers stop first, so no reload races the shutdown.
        """
        self._reloader.stop_watchers()
        if self._lifecycle.activation_order:
            await self._lifecycle.notify("on_host_stopping", manager=self)
        await self._lifecycle.stop()

    async def unload_plugin(self, name: str) -> None:
        """Deactivate ``name`` (its dependents first) and forget it."""
        self._record(name)
        await self._reloader.unload(name)

    # -- hot reload -----------------------------------------------------------------------

    async def reload_plugin(self, name: str) -> Plugin:
        """Import ``name``'s code again and swap the new instance in; returns it.

        Transactional: the new instance is built, validated and initialized beside the
        running one, and only then replaces it, so a failure raises ``ReloadError`` and
        leaves the old version running. Active dependents restart in dependency order.
        A plugin handed to ``load_plugin`` is your object, so it is restarted in place.
        A plugin that is not running (failed, skipped, or discovered but not started) is
        loaded afresh and started.
        """
        if name not in self._registry.records and self.settings.autoload and not self._discovered:
            await self.discover()  # a fresh manager: ``name`` may be an installed plugin
        self._record(name)
        return await self._reloader.reload(name)

    async def reload_all_plugins(self) -> dict[str, str | None]:
        """Reload every active plugin, dependencies first: name → error (``None`` if fine)."""
        return await self._reloader.reload_all()

    def start_file_watcher(self, path: str | os.PathLike[str]) -> None:
        """Watch ``path`` (with watchfiles) and apply edits while the host runs.

        A changed file reloads the plugins it belongs to (once per burst of edits); a new
        plugin file in the folder is loaded and activated; a deleted one is unloaded. Needs
        ``PluginManager(enable_hot_reload=True)`` and a running event loop; the watcher
        stops at ``deactivate_all()`` (the end of ``async with``) or ``stop_file_watcher()``.
        """
        if not self.enable_hot_reload:
            raise ReloadError(
                "hot reload is off",
                hint="create the manager with PluginManager(enable_hot_reload=True)",
            )
        self._reloader.start_watcher(Path(path), _spawn_detached)

    def stop_file_watcher(self) -> None:
        self._reloader.stop_watchers()

    # -- looking things up ----------------------------------------------------------------

    def get_loaded_plugins(self) -> list[Plugin]:
        """Every loaded plugin (built-ins excluded), whatever its status."""
        return [
            rec.plugin
            for rec in self._registry.records.values()
            if rec.plugin is not None and rec.source != BUILTIN_SOURCE
        ]

    def get_plugin(self, name: str) -> Plugin | None:
        rec = self._registry.records.get(name)
        return rec.plugin if rec is not None else None

    def get_status(self, name: str) -> PluginStatus | None:
        """Status of any plugin name the manager has seen (``None`` if never seen)."""
        rec = self._registry.records.get(name)
        return rec.status if rec is not None else None

    def get_error(self, name: str) -> str | None:
        """Why ``name`` is FAILED or SKIPPED, as one line; ``None`` when healthy."""
        rec = self._registry.records.get(name)
        return rec.reason if rec is not None else None

    def get_traceback(self, name: str) -> str | None:
        """The traceback behind ``get_error(name)``, when there was an exception."""
        rec = self._registry.records.get(name)
        return rec.traceback if rec is not None else None

    def get_info(self, name: str) -> PluginInfo | None:
        """A snapshot of everything known about ``name``, or ``None`` if never seen."""
        rec = self._registry.records.get(name)
        return rec.info() if rec is not None else None

    def list_plugins(self) -> list[PluginInfo]:
        """Snapshots of every plugin the manager has seen, built-ins first."""
        return [rec.info() for rec in self._registry.records.values()]

    @property
    def activation_order(self) -> list[str]:
        """Active plugins in the order they became ACTIVE; deactivation runs it backwards."""
        return list(self._lifecycle.activation_order)

    @property
    def plugin_names(self) -> list[str]:
        """Every plugin name the manager has seen, built-ins included."""
        return list(self._registry.records)

    @property
    def problems(self) -> list[JafPluginsError]:
        """Errors not tied to a plugin record, e.g. a second plugin claiming a taken name."""
        return list(self._registry.problems)

    def get_tool(self, name: str) -> Tool | None:
        """An active plugin's tool, by name or ``plugin:name``.

        A bare name offered by two plugins raises ``ToolConflictError`` naming both.
        """
        return self._registry.tool(name)

    def get_agent(self, name: str) -> Agent | None:
        """An active plugin's agent, by name or ``plugin:name``."""
        return self._registry.agent(name)

    def list_tools(self) -> list[Tool]:
        """Every tool of every active plugin; ``tool.plugin`` names its owner."""
        return self._registry.tools()

    def list_agents(self) -> list[Agent]:
        """Every agent of every active plugin; ``agent.plugin`` names its owner."""
        return self._registry.agents()

    # -- events ---------------------------------------------------------------------------

    def emit_event(self, name: str, data: Any = None) -> Coroutine[Any, Any, EventOutcome]:
        """Deliver an event to the handlers of every ACTIVE plugin; see ``EventOutcome``.

        ``await`` it; a plain method returning the dispatch coroutine (one coroutine less per
        emit than an ``async def`` wrapper)."""
        return self._events.emit(PluginEvent(name, data))

    def _emit(
        self, name: str, data: Any, *, source: str | None
    ) -> Coroutine[Any, Any, EventOutcome]:
        return self._events.emit(PluginEvent(name, data, source=source))

    def _subscriptions(self) -> list[Subscription]:
        subs: list[Subscription] = []
        for name in self._lifecycle.plan().order:
            rec = self._registry.records[name]
            if rec.status is not PluginStatus.ACTIVE:
                continue
            assert rec.plugin is not None
            subs += [Subscription(name, event, fn) for event, fn in rec.plugin._event_handlers]
            impl = rec.impls.get("on_event")
            if impl is not None:
                subs.append(
                    Subscription(name, "*", functools.partial(_call_on_event, impl), "on_event")
                )
        return subs

    # -- internals ------------------------------------------------------------------------

    def _record(self, name: str) -> PluginRecord:
        rec = self._registry.records.get(name)
        if rec is None:
            raise PluginNotFoundError(
                f"no plugin named {name!r}",
                hint=f"known plugins: {', '.join(sorted(self._registry.records))}",
            )
        return rec

    def _make_context(self, rec: PluginRecord, replacing: Mapping[str, Plugin]) -> PluginContext:
        records = self._registry.records
        dependencies = {
            dep.name: replacing.get(dep.name)
            or (
                dep_rec.plugin
                if (dep_rec := records.get(dep.name)) is not None
                and dep_rec.status is PluginStatus.ACTIVE
                else None
            )
            for dep in rec.dependencies
        }
        assert rec.plugin is not None
        try:
            settings, values = load_plugin_settings(
                rec.name, rec.plugin.settings_model, self._config.get(rec.name, {}), self._files
            )
        except JafPluginsError as exc:
            raise exc.about(rec.name, rec.distribution) from None
        return PluginContext(
            name=rec.name,
            manager=self,
            config=PluginConfig(values, namespace=rec.name),
            settings=settings,
            dependencies=dependencies,
        )

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for rec in self._registry.records.values():
            counts[rec.status.value] = counts.get(rec.status.value, 0) + 1
        return f"<PluginManager {counts}>"


def _describe_target(obj: object) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}:{qualname}"


def _spawn_detached(task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``task`` in the background of the current event loop, asyncio or trio.

    ``start_file_watcher`` is synchronous in the spec, so it cannot open a task group.
    """
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: anyio's only other backend is trio
        import trio

        trio.lowlevel.spawn_system_task(task)
        return
    background = loop.create_task(task())
    _background.add(background)  # keep a reference until it finishes
    background.add_done_callback(_background.discard)


_background: set[Any] = set()


def _call_on_event(impl: pluggy.HookImpl, event: PluginEvent) -> Awaitable[Any]:
    return call_impl(impl, {"event": event})
