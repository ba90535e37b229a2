"""Events between plugins: ``PluginEvent``, ``@EventHandler`` and the dispatch table."""

from __future__ import annotations

import contextvars
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from ._calling import await_maybe
from ._errors import EventDepthError

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

_EVENT_ATTR = "__jaf_event_names__"
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("jaf_event_depth", default=0)
_logger = logging.getLogger("jaf.plugins.events")


@dataclass(frozen=True)
class PluginEvent:
    """An event: its ``name``, ``data``, when it was emitted and by which plugin (if any)."""

    name: str
    data: Any = None
    timestamp: float = field(default_factory=time.time)
    source: str | None = None


def EventHandler(event_name: str) -> Callable[[F], F]:
    """Mark a method as a handler of ``event_name``; registered when its plugin activates."""

    def mark(fn: F) -> F:
        names = (*getattr(fn, _EVENT_ATTR, ()), event_name)
        setattr(fn, _EVENT_ATTR, names)
        return fn

    return mark


def marked_handlers(plugin: object) -> Iterable[tuple[str, Handler]]:
    """``(event name, bound method)`` for each ``@EventHandler`` method of ``plugin``'s class."""
    cls = type(plugin)
    attributes = _MARKED.get(cls)
    if attributes is None:
        attributes = _MARKED[cls] = _marked_attributes(cls)
    return [(event, getattr(plugin, attr)) for event, attr in attributes]


# Scanning the MRO is the costly part and a class's methods do not change, so it is done once
# per class; weak keys let reloaded-away classes be collected.
_MARKED: weakref.WeakKeyDictionary[type, tuple[tuple[str, str], ...]] = weakref.WeakKeyDictionary()


def _marked_attributes(cls: type) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr, value in vars(klass).items():
            if attr in seen:
                continue
            seen.add(attr)
            found.extend((event_name, attr) for event_name in getattr(value, _EVENT_ATTR, ()))
    return tuple(found)


@dataclass(frozen=True)
class HandlerResult:
    """What one handler did with one event."""

    plugin: str
    handler: str
    error: BaseException | None = None
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class EventOutcome:
    """What ``emit_event`` did: the event and one result per handler that ran, in order."""

    event: PluginEvent
    results: tuple[HandlerResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> tuple[HandlerResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    @property
    def handled(self) -> bool:
        return bool(self.results)


@dataclass(frozen=True)
class Subscription:
    plugin: str
    pattern: str
    handler: Handler
    #: What outcomes and logs call the handler; defaults to its ``__qualname__``.
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or getattr(self.handler, "__qualname__", repr(self.handler))

    def matches(self, event_name: str) -> bool:
        if self.pattern.endswith("*"):
            return event_name.startswith(self.pattern[:-1])
        return event_name == self.pattern


class EventBus:
    """Dispatches events to subscriptions, using a table rebuilt only when handlers change."""

    def __init__(self, *, timeout: float | None, max_depth: int, concurrent: bool) -> None:
        self.timeout = timeout
        self.max_depth = max_depth
        self.concurrent = concurrent
        self._subscriptions: Callable[[], list[Subscription]] = list
        self._all: list[Subscription] | None = None
        self._table: dict[str, tuple[Subscription, ...]] = {}

    def set_source(self, subscriptions: Callable[[], list[Subscription]]) -> None:
        """``subscriptions()`` lists every active subscription in dispatch order."""
        self._subscriptions = subscriptions
        self.invalidate()

    def invalidate(self) -> None:
        self._all = None
        self._table = {}

    def handlers_for(self, event_name: str) -> tuple[Subscription, ...]:
        table = self._table.get(event_name)
        if table is None:
            if self._all is None:
                self._all = self._subscriptions()
            table = tuple(s for s in self._all if s.matches(event_name))
            self._table[event_name] = table
        return table

    async def emit(self, event: PluginEvent, *, concurrent: bool | None = None) -> EventOutcome:
        depth = _depth.get()
        if depth >= self.max_depth:
            raise EventDepthError(
                f"event {event.name!r} emitted at depth {depth}: handlers keep emitting events",
                plugin=event.source,
                hint=f"break the emit loop, or raise max_event_depth (now {self.max_depth})",
            )
        subscriptions = self.handlers_for(event.name)
        token = _depth.set(depth + 1)
        try:
            if concurrent if concurrent is not None else self.concurrent:
                results: list[HandlerResult | None] = [None] * len(subscriptions)
                async with anyio.create_task_group() as tg:
                    for index, sub in enumerate(subscriptions):
                        tg.start_soon(self._run_into, results, index, sub, event)
                done = tuple(r for r in results if r is not None)
            else:
                done = tuple([await self._run(sub, event) for sub in subscriptions])
        finally:
            _depth.reset(token)
        return EventOutcome(event, done)

    async def _run_into(
        self, results: list[HandlerResult | None], index: int, sub: Subscription, event: PluginEvent
    ) -> None:
        results[index] = await self._run(sub, event)

    async def _run(self, sub: Subscription, event: PluginEvent) -> HandlerResult:
        name = sub.name
        try:
            with anyio.fail_after(self.timeout):
                value = await await_maybe(sub.handler(event))
        except TimeoutError as exc:
            _logger.error(
                "handler %s of plugin %r timed out on event %r", name, sub.plugin, event.name
            )
            return HandlerResult(sub.plugin, name, exc)
        except Exception as exc:
            _logger.error(
                "handler %s of plugin %r failed on event %r: %r",
                name,
                sub.plugin,
                event.name,
                exc,
                exc_info=not isinstance(exc, EventDepthError),
            )
            return HandlerResult(sub.plugin, name, exc)
        return HandlerResult(sub.plugin, name, None, value)
