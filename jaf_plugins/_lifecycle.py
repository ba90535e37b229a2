"""Starting and stopping plugins: each starts as soon as its dependencies are ACTIVE.

Every step runs under the per-plugin timeout. A failure marks that plugin FAILED, skips its
dependents with a reason naming it, and tears down whatever it had already set up.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio

from . import _resolve
from ._agents import Agent
from ._calling import DEADLINE_SLACK, await_maybe, broadcast, call_impl
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
        batch = set(names)
        records = self.registry.records
        # Plugins that depend on nothing need no plan: they are queued first, and the plan is
        # made (``None`` in the queue) once each has started, so their initialize runs while
        # the host plans the rest instead of after.
        ready: deque[str | None] = deque(sorted(n for n in batch if not records[n].dependencies))
        ready.append(None)
        plan: _resolve.Plan | None = None
        waiting: dict[str, int] = {}
        dependents: dict[str, tuple[str, ...]] = {}
        finished_unplanned: list[str] = []
        spare = 0  # workers started that have not yet taken a plugin

        def make_plan() -> None:
            nonlocal plan, dependents
            plan = self.plan()
            after = plan.after
            found: dict[str, list[str]] = {n: [] for n in batch}
            for name in batch:
                count = 0
                for dep in after[name]:
                    if dep in batch:
                        count += 1
                        found[dep].append(name)
                waiting[name] = count
            # Tuples, and the lists dropped: they live through the whole start (Plan.after).
            dependents = {n: tuple(names) for n, names in found.items()}
            del found
            ready.extend(
                n for n in plan.order if n in batch and waiting[n] == 0 and records[n].dependencies
            )
            for name in finished_unplanned:
                finished(name)

        def finished(name: str) -> None:
            if plan is None:
                finished_unplanned.append(name)
                return
            for dependent in dependents[name]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    ready.append(dependent)

        # Workers, not a task per plugin: a worker starts queued plugins one after another
        # and only yields inside a plugin's own awaits. A spare worker is kept whenever
        # plugins are queued, so if every worker is waiting in a slow initialize, the spare
        # starts the next plugin: as concurrent as a task per plugin, at a fraction of the
        # cost when plugins start quickly (spawning a task costs more than a no-op start).
        # Each new worker hires two more while plugins are queued, so waiting workers double
        # at every turn of the event loop instead of growing by one.
        with _last_error:  # installed once for the whole start
            async with anyio.create_task_group() as tg:

                def hire(count: int) -> None:
                    nonlocal spare
                    for _ in range(min(count, len(ready) - spare)):
                        spare += 1
                        tg.start_soon(worker)

                async def worker() -> None:
                    nonlocal spare
                    spare -= 1
                    hire(2)
                    while ready:
                        # One deadline for the steps this worker runs in a row; a step that
                        # runs out of time cancels it, and the worker goes on under a new one.
                        with anyio.CancelScope() as scope:
                            clock = _StepClock(self.timeout, scope)
                            while ready:
                                queued = ready.popleft()
                                if queued is None:
                                    make_plan()
                                    continue
                                name = queued
                                if spare == 0:
                                    hire(1)
                                try:
                                    await self._start_one(records[name], plan, clock)
                                finally:
                                    finished(name)
                        if scope.cancelled_caught and records[name].status is PluginStatus.FAILED:
                            await self._notify_failed(records[name])  # bring_up ran out of time

                hire(1)

    async def _start_one(
        self, rec: PluginRecord, plan: _resolve.Plan | None, clock: _StepClock
    ) -> None:
        """Start ``rec``; ``plan`` is ``None`` for a plugin with no dependencies."""
        blocked = None if plan is None else self._blocked(rec, plan)
        if blocked is not None:
            return await self._give_up(rec, *blocked)
        try:
            tools, agents = await self.bring_up(rec, {}, clock)
        except JafPluginsError:
            return await self._notify_failed(rec)
        self.registry.publish(rec, tools, agents)
        rec.set_status(PluginStatus.ACTIVE)
        self.activation_order.append(rec.name)
        self._on_change()
        assert rec.plugin is not None
        await self.notify("on_plugin_activated", name=rec.name, plugin=rec.plugin)

    def _blocked(
        self, rec: PluginRecord, plan: _resolve.Plan
    ) -> tuple[PluginStatus, JafPluginsError] | None:
        """Why ``rec`` cannot start (the plan's verdict, or a dependency not ACTIVE), if so."""
        problem = plan.errors.get(rec.name)
        if problem is not None:
            return PluginStatus.FAILED, problem
        for dep in plan.requires[rec.name]:
            dep_rec = self.registry.records[dep]
            if dep_rec.status is not PluginStatus.ACTIVE:
                why = dep_rec.error.message if dep_rec.error else dep_rec.note or "not activated"
                return PluginStatus.SKIPPED, DependencyFailedError(
                    f"skipped: its dependency {dep!r} is {dep_rec.status.value} ({why})",
                    plugin=rec.name,
                    distribution=rec.distribution,
                    hint=f"fix {dep!r} first (jaf-plugins info {dep})",
                )
        return None

    async def bring_up(
        self,
        rec: PluginRecord,
        replacing: Mapping[str, Plugin],
        clock: _StepClock | None = None,
    ) -> tuple[list[Tool], list[Agent]]:
        """Validate settings, initialize and activate ``rec``; returns what it offers, unpublished.

        ``replacing`` maps names to the instances a reload is putting in place, so the
        plugin's context hands out those. On failure the plugin is FAILED, whatever it set up
        is released, and the error is raised. With a worker's shared ``clock``, a step that
        runs out of time fails the plugin the same way and re-raises the cancellation.
        """
        rec.error, rec.traceback, rec.context = None, None, None
        initialized = False
        if clock is None:
            clock = _StepClock(self.timeout)
        try:
            rec.set_status(PluginStatus.INITIALIZING)
            rec.context = self._make_context(rec, replacing)  # validates settings
            with clock:
                await self._step(rec, "initialize", {"context": rec.context}, clock)
                initialized = True
                rec.set_status(PluginStatus.ACTIVATING)
                await self._step(rec, "activate", {}, clock)
                tools = await self._offered(rec, "get_tools", Tool, clock)
                agents = await self._offered(rec, "get_agents", Agent, clock)
        except JafPluginsError as exc:
            rec.fail(PluginStatus.FAILED, exc)
            with anyio.CancelScope(shield=True):
                await (self._teardown(rec) if initialized else self._run_cleanups(rec))
            raise
        except anyio.get_cancelled_exc_class():
            # Out of time (a shared clock) or cancelled mid-start: release what was set up,
            # then let the cancellation proceed.
            rec.fail(
                PluginStatus.FAILED,
                clock.timeout_error()
                if clock.expired
                else LifecycleError(
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

    async def _step(
        self, rec: PluginRecord, hook: str, kwargs: dict[str, Any], clock: _StepClock
    ) -> Any:
        """Call one lifecycle hook of ``rec`` with the whole timeout (``clock``'s deadline)."""
        impl = rec.impls.get(hook)
        if impl is None:
            return None
        clock.start(rec, hook)
        logged = _last_error.listen(rec.name)
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
        finally:
            _last_error.stop_listening(rec.name)
        if result is False:
            said = f" after logging: {logged[0]}" if logged[0] else ""
            raise LifecycleError(
                f"{hook} returned False{said}",
                plugin=rec.name,
                distribution=rec.distribution,
                hint=f"see the plugin's log (logger 'jaf.plugins.{rec.name}')",
            )
        return result

    async def _offered(
        self, rec: PluginRecord, hook: str, kind: type[Any], clock: _StepClock
    ) -> list[Any]:
        items: list[Any] = []
        from_attribute = getattr(rec.plugin, "tools" if kind is Tool else "agents", None) or []
        if hook not in rec.impls and not from_attribute:
            return items  # most plugins offer neither tools nor agents
        from_hook = await self._step(rec, hook, {}, clock) or []
        sources = [from_hook, from_attribute]
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
        pending = [n for n in self.activation_order if wanted is None or n in wanted]
        with anyio.CancelScope(shield=True):
            while pending:
                # One deadline for the deactivate steps in a row, as when starting.
                with anyio.CancelScope() as scope:
                    clock = _StepClock(self.timeout, scope)
                    while pending:
                        rec = self.registry.records[pending.pop()]
                        self._forget(rec.name)
                        told = False
                        await self._teardown(rec, clock)
                        told = True
                        await self._notify_deactivated(rec)
                if scope.cancelled_caught and not told:  # ``rec``'s deactivate ran out of time
                    await self._notify_deactivated(rec)

    async def retire(self, rec: PluginRecord) -> None:
        """Stop an instance a reload replaced (it is no longer in the registry)."""
        with anyio.CancelScope(shield=True):
            await self._teardown(rec)
            await self._notify_deactivated(rec)

    async def _notify_deactivated(self, rec: PluginRecord) -> None:
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

    async def _teardown(self, rec: PluginRecord, clock: _StepClock | None = None) -> None:
        """Withdraw what the plugin offers, deactivate it, then run its cleanups.

        With a shared ``clock`` whose deadline passes, the plugin is failed and cleaned up
        the same way, and the cancellation is re-raised to leave the clock's scope.
        """
        failed_before = rec.status is PluginStatus.FAILED
        rec.set_status(PluginStatus.DEACTIVATING)
        self.registry.withdraw(rec)
        self._on_change()
        if clock is None:
            clock = _StepClock(self.timeout)
        error: JafPluginsError | None = None
        out_of_time: BaseException | None = None
        try:
            with clock:
                await self._step(rec, "deactivate", {}, clock)
        except JafPluginsError as exc:
            error = exc
        except anyio.get_cancelled_exc_class() as exc:
            if not clock.expired:
                raise
            error, out_of_time = clock.timeout_error(), exc
        if error is not None:
            _logger.error("%s", error)
        if out_of_time is None:
            await self._run_cleanups(rec)
        else:
            with anyio.CancelScope(shield=True):  # the clock's scope is cancelled
                await self._run_cleanups(rec)
        if failed_before:
            rec.set_status(PluginStatus.FAILED)
        elif error is not None:
            rec.fail(PluginStatus.FAILED, error)
        else:
            rec.set_status(PluginStatus.INACTIVE)
        if out_of_time is not None:
            raise out_of_time

    async def _run_cleanups(self, rec: PluginRecord) -> None:
        context = rec.context
        while context is not None and (callback := context.pop_cleanup()) is not None:
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
        impls = self.registry.active_impls(hook)
        if impls:  # usually none: observers are rare
            await broadcast(impls, kwargs, hook=hook)


def is_startable(rec: PluginRecord) -> bool:
    return rec.source != BUILTIN_SOURCE and rec.status in (
        PluginStatus.INACTIVE,
        PluginStatus.SKIPPED,
    )


class _StepClock:
    """A deadline for a run of lifecycle steps, re-armed as each step starts.

    Each step still gets the whole timeout (see ``DEADLINE_SLACK``). A worker shares one
    clock, and so one cancel scope and usually one timer, among all the steps it runs in a
    row: with thousands of plugins, a scope and a timer per step were a third of the host's
    own time. A clock made without a scope makes its own, entered with ``with clock:``,
    and turns running out of time into ``PluginTimeoutError``; entering a shared clock does
    nothing, and running out of time cancels the worker's scope (``expired`` tells).
    """

    def __init__(self, timeout: float, scope: anyio.CancelScope | None = None) -> None:
        self._timeout = timeout
        self._owned = scope is None
        self._scope = anyio.CancelScope() if scope is None else scope
        self._armed = -math.inf
        self._step: tuple[PluginRecord, str] | None = None

    def start(self, rec: PluginRecord, hook: str) -> None:
        self._step = (rec, hook)
        now = time.monotonic()
        if now - self._armed > self._timeout * DEADLINE_SLACK:
            self._armed = now
            self._scope.deadline = anyio.current_time() + self._timeout * (1 + DEADLINE_SLACK)

    @property
    def expired(self) -> bool:
        return self._scope.cancel_called  # nothing but the deadline cancels this scope

    def timeout_error(self) -> PluginTimeoutError:
        assert self._step is not None
        rec, hook = self._step
        return PluginTimeoutError(
            f"{hook} did not finish within {self._timeout:g}s",
            plugin=rec.name,
            distribution=rec.distribution,
            hint="make it finish sooner, or raise the timeout "
            "(PluginManager(timeout=...) or JAF_PLUGINS_TIMEOUT)",
        )

    def __enter__(self) -> _StepClock:
        if self._owned:
            self._scope.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        if not self._owned:
            return False
        swallowed = bool(self._scope.__exit__(*exc_info))
        if self._scope.cancelled_caught:
            raise self.timeout_error() from None
        return swallowed


class _LastError(logging.Handler):
    """Remembers the last error each plugin logs during a step, to explain ``return False``.

    One handler for all plugins, on the ``jaf.plugins`` logger while a start or step runs, so it
    hears the plugin's logger and those below it (a module's ``getLogger(__name__)`` in a
    plugin package) without a handler, a lock and a logger per plugin: with thousands of
    plugins those objects cost the garbage collector more than the steps themselves. A
    record goes to the stepping plugin with the longest name that prefixes its logger's.

    Being a handler, it would keep ``logging.lastResort`` from printing records when
    logging is not configured; so when it is the only handler a record meets, it passes
    the record on to ``lastResort`` as logging itself would have.
    """

    def __init__(self) -> None:
        super().__init__()
        self._stepping: dict[str, list[str]] = {}
        self._held = 0
        self._installed = False
        self._host = logging.getLogger("jaf.plugins")

    def listen(self, plugin: str) -> list[str]:
        """Start hearing ``plugin``: the list's one item becomes the last error it logs."""
        logged = self._stepping[plugin] = [""]
        self._install()
        return logged

    def stop_listening(self, plugin: str) -> None:
        del self._stepping[plugin]
        self._install()

    def __enter__(self) -> None:
        """Stay installed until ``__exit__``: a start runs its plugins' steps one after
        another, and adding and removing a logging handler (under logging's lock) around
        each step cost more than a no-op step."""
        self._held += 1
        self._install()

    def __exit__(self, *exc_info: object) -> None:
        self._held -= 1
        self._install()

    def _install(self) -> None:
        """On the host logger exactly while a step runs or a start holds it."""
        wanted = bool(self._stepping) or self._held > 0
        if wanted is not self._installed:
            (self._host.addHandler if wanted else self._host.removeHandler)(self)
            self._installed = wanted

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR and record.name.startswith("jaf.plugins."):
            name = record.name.removeprefix("jaf.plugins.")
            while name:
                slot = self._stepping.get(name)
                if slot is not None:
                    slot[0] = record.getMessage()
                    break
                name = name.rpartition(".")[0]
        last_resort = logging.lastResort
        if last_resort is not None and record.levelno >= last_resort.level and self._alone(record):
            last_resort.handle(record)

    def _alone(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self for handler in logger.handlers):
                return False
            logger = logger.parent if logger.propagate else None
        return True


_last_error = _LastError()
