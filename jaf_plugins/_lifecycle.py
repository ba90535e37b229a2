"""Starting and stopping plugins: each starts as soon as its dependencies are ACTIVE.

Every step runs under the per-plugin timeout. A failure marks that plugin FAILED, skips its
dependents with a reason naming it, and tears down whatever it had already set up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio

from . import _resolve
from ._agents import Agent
from ._calling import await_maybe, broadcast, call_impl
from ._context import PluginContext
from ._errors import (
    DependencyFailedError,
    JafPluginsError,
    LifecycleError,
    PluginTimeoutError,
)
from ._plugin import Plugin, PluginStatus
from ._registry import BUILTIN_SOURCE, PluginRecord, Registry
from ._tools import Tool

_logger = logging.getLogger("jaf.plugins")
ContextFactory = Callable[[PluginRecord, Mapping[str, Plugin]], PluginContext]


class Lifecycle:
    def __init__(
        self,
        registry: Registry,
        *,
        timeout: float,
        make_context: ContextFactory,
        on_change: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self._make_context = make_context
        self._on_change = on_change
        self.activation_order: list[str] = []
        """Names in the order they became ACTIVE; teardown walks it backwards."""

    # -- starting -----------------------------------------------------------------------------

    def plan(self) -> _resolve.Plan:
        return _resolve.plan(
            {
                name: _resolve.Node(rec.version, rec.dependencies, rec.distribution)
                for name, rec in self.registry.records.items()
            }
        )

    async def start(self, names: Iterable[str]) -> None:
        """Start ``names`` concurrently, each once its own dependencies have finished."""
        plan = self.plan()
        batch = set(names)
        waiting = {n: sum(d in batch for d in plan.after[n]) for n in batch}
        dependents: dict[str, list[str]] = {n: [] for n in batch}
        for name in batch:
            for dep in plan.after[name]:
                if dep in batch:
                    dependents[dep].append(name)
        records = self.registry.records

        async with anyio.create_task_group() as tg:

            async def run(name: str) -> None:
                try:
                    await self._start_one(records[name], plan)
                finally:
                    for dependent in dependents[name]:
                        waiting[dependent] -= 1
                        if waiting[dependent] == 0:
                            tg.start_soon(run, dependent)

            for name in plan.order:
                if name in batch and waiting[name] == 0:
                    tg.start_soon(run, name)

    async def _start_one(self, rec: PluginRecord, plan: _resolve.Plan) -> None:
        problem = plan.errors.get(rec.name)
        if problem is not None:
            return await self._give_up(rec, PluginStatus.FAILED, problem)
        for dep in plan.requires[rec.name]:
            dep_rec = self.registry.records[dep]
            if dep_rec.status is not PluginStatus.ACTIVE:
                why = dep_rec.error.message if dep_rec.error else dep_rec.note or "not activated"
                error = DependencyFailedError(
                    f"skipped: its dependency {dep!r} is {dep_rec.status.value} ({why})",
                    plugin=rec.name,
                    distribution=rec.distribution,
                    hint=f"fix {dep!r} first (jaf-plugins info {dep})",
                )
                return await self._give_up(rec, PluginStatus.SKIPPED, error)

        try:
            tools, agents = await self.bring_up(rec, {})
        except JafPluginsError:
            return await self._notify_failed(rec)
        self.registry.publish(rec, tools, agents)
        rec.set_status(PluginStatus.ACTIVE)
        self.activation_order.append(rec.name)
        self._on_change()
        assert rec.plugin is not None
        await self.notify("on_plugin_activated", name=rec.name, plugin=rec.plugin)

    async def bring_up(
        self, rec: PluginRecord, replacing: Mapping[str, Plugin]
    ) -> tuple[list[Tool], list[Agent]]:
        """Validate settings, initialize and activate ``rec``; returns what it offers, unpublished.

        ``replacing`` maps names to the instances a reload is putting in place, so the
        plugin's context hands out those. On failure the plugin is FAILED, whatever it set up
        is released, and the error is raised.
        """
        rec.error, rec.traceback, rec.context = None, None, None
        initialized = False
        try:
            rec.set_status(PluginStatus.INITIALIZING)
            rec.context = self._make_context(rec, replacing)  # validates settings
            await self._step(rec, "initialize", {"context": rec.context})
            initialized = True
            rec.set_status(PluginStatus.ACTIVATING)
            await self._step(rec, "activate", {})
            tools = await self._offered(rec, "get_tools", Tool)
            agents = await self._offered(rec, "get_agents", Agent)
        except JafPluginsError as exc:
            rec.fail(PluginStatus.FAILED, exc)
            with anyio.CancelScope(shield=True):
                await (self._teardown(rec) if initialized else self._run_cleanups(rec))
            raise
        except anyio.get_cancelled_exc_class():
            # Cancelled mid-start: release what was set up, then let cancellation proceed.
            rec.fail(
                PluginStatus.FAILED,
                LifecycleError(
                    f"cancelled while {rec.status.value}",
                    plugin=rec.name,
                    distribution=rec.distribution,
                    hint="activate it again",
                ),
            )
            with anyio.CancelScope(shield=True):
                await (self._teardown(rec) if initialized else self._run_cleanups(rec))
            raise
        return tools, agents

    async def _give_up(
        self, rec: PluginRecord, status: PluginStatus, error: JafPluginsError
    ) -> None:
        rec.fail(status, error)
        await self._notify_failed(rec)

    async def _notify_failed(self, rec: PluginRecord) -> None:
        _logger.error("%s", rec.error)
        await self.notify("on_plugin_failed", name=rec.name, status=rec.status, reason=rec.reason)

    async def _step(self, rec: PluginRecord, hook: str, kwargs: dict[str, Any]) -> Any:
        impl = rec.impls.get(hook)
        if impl is None:
            return None
        result: Any = None
        with _LastError(rec.name) as logged, anyio.move_on_after(self.timeout) as scope:
            try:
                result = await call_impl(impl, kwargs)
            except Exception as exc:
                raise LifecycleError(
                    f"{hook} raised {type(exc).__name__}: {exc}",
                    plugin=rec.name,
                    distribution=rec.distribution,
                    hint="see the traceback (manager.get_traceback(name), "
                    "or jaf-plugins info NAME --verbose)",
                ) from exc
        if scope.cancelled_caught:
            raise PluginTimeoutError(
                f"{hook} did not finish within {self.timeout:g}s",
                plugin=rec.name,
                distribution=rec.distribution,
                hint="make it finish sooner, or raise the timeout "
                "(PluginManager(timeout=...) or JAF_PLUGINS_TIMEOUT)",
            )
        if result is False:
            said = f" after logging: {logged.message}" if logged.message else ""
            raise LifecycleError(
                f"{hook} returned False{said}",
                plugin=rec.name,
                distribution=rec.distribution,
                hint=f"see the plugin's log (logger 'jaf.plugins.{rec.name}')",
            )
        return result

    async def _offered(self, rec: PluginRecord, hook: str, kind: type[Any]) -> list[Any]:
        items: list[Any] = []
        attribute = "tools" if kind is Tool else "agents"
        from_hook = await self._step(rec, hook, {}) or []
        sources = [from_hook, getattr(rec.plugin, attribute, None) or []]
        for source in sources:
            for item in source:
                if not isinstance(item, kind):
                    raise LifecycleError(
                        f"{hook} gave {item!r}, which is not a {kind.__name__}",
                        plugin=rec.name,
                        distribution=rec.distribution,
                        hint=f"build it with jaf_plugins.{kind.__name__}",
                    )
                if not any(item is seen for seen in items):
                    items.append(item)
        return items

    # -- stopping ---------------------------------------------------------------------------

    async def stop(self, names: Iterable[str] | None = None) -> None:
        """Deactivate ``names`` (default: all) in exact reverse activation order.

        Shielded from cancellation, so resources are released even when the surrounding
        task is being cancelled; each step still has its own timeout.
        """
        wanted = None if names is None else set(names)
        with anyio.CancelScope(shield=True):
            for name in reversed(list(self.activation_order)):
                if wanted is not None and name not in wanted:
                    continue
                rec = self.registry.records[name]
                self._forget(name)
                await self._teardown(rec)
                assert rec.plugin is not None
                await self.notify("on_plugin_deactivated", name=rec.name, plugin=rec.plugin)

    async def retire(self, rec: PluginRecord) -> None:
        """Stop an instance a reload replaced (it is no longer in the registry)."""
        with anyio.CancelScope(shield=True):
            await self._teardown(rec)
            assert rec.plugin is not None
            await self.notify("on_plugin_deactivated", name=rec.name, plugin=rec.plugin)

    def _forget(self, name: str) -> None:
        # Stopping walks the order backwards, so the name is almost always the last one:
        # searching from the end keeps stopping n plugins linear.
        order = self.activation_order
        if order and order[-1] == name:
            order.pop()
        else:
            order.remove(name)

    def changed(self) -> None:
        """What plugins offer changed outside start/stop (a reload's swap)."""
        self._on_change()

    async def _teardown(self, rec: PluginRecord) -> None:
        """Withdraw what the plugin offers, deactivate it, then run its cleanups."""
        failed_before = rec.status is PluginStatus.FAILED
        rec.set_status(PluginStatus.DEACTIVATING)
        self.registry.withdraw(rec)
        self._on_change()
        error: JafPluginsError | None = None
        try:
            await self._step(rec, "deactivate", {})
        except JafPluginsError as exc:
            error = exc
            _logger.error("%s", exc)
        await self._run_cleanups(rec)
        if failed_before:
            rec.set_status(PluginStatus.FAILED)
        elif error is not None:
            rec.fail(PluginStatus.FAILED, error)
        else:
            rec.set_status(PluginStatus.INACTIVE)

    async def _run_cleanups(self, rec: PluginRecord) -> None:
        cleanups = rec.context.cleanups if rec.context is not None else []
        while cleanups:
            callback = cleanups.pop()
            with anyio.move_on_after(self.timeout):
                try:
                    await await_maybe(callback())
                except Exception:
                    _logger.exception("cleanup %r of plugin %r failed", callback, rec.name)

    def dependents_of(self, names: Iterable[str]) -> set[str]:
        """``names`` plus every active plugin that requires one of them, transitively."""
        found = set(names)
        changed = True
        while changed:
            changed = False
            for name in self.activation_order:
                rec = self.registry.records[name]
                if name not in found and any(d.name in found for d in rec.dependencies):
                    found.add(name)
                    changed = True
        return found

    async def notify(self, hook: str, **kwargs: Any) -> None:
        await broadcast(self.registry.active_impls(hook), kwargs, hook=hook)


def is_startable(rec: PluginRecord) -> bool:
    return rec.source != BUILTIN_SOURCE and rec.status in (
        PluginStatus.INACTIVE,
        PluginStatus.SKIPPED,
    )


class _LastError(logging.Handler):
    """Remembers the last error a plugin logged during a step, to explain ``return False``."""

    def __init__(self, plugin: str) -> None:
        super().__init__(logging.ERROR)
        self.message = ""
        self._logger = logging.getLogger(f"jaf.plugins.{plugin}")

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()

    def __enter__(self) -> _LastError:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
