"""Events between plugins: ``PluginEvent``, ``@EventHandler`` and the dispatch table."""

from __future__ import annotations

import contextvars
import inspect
import logging
import math
import time
import types
import weakref
from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import anyio

from ._calling import DEADLINE_SLACK, await_maybe
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


class HandlerResult(NamedTuple):
    """What one handler did with one event."""

    plugin: str
    handler: str
    error: BaseException | None = None
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


class EventOutcome:
    """What ``emit_event`` did: the event and one result per handler that ran, in order."""

    __slots__ = ("_raw", "_results", "event")

    def __init__(self, event: PluginEvent, raw: Sequence[_Raw] = ()) -> None:
        self.event = event
        self._raw = raw
        self._results: tuple[HandlerResult, ...] | None = None

    @property
    def results(self) -> tuple[HandlerResult, ...]:
        # Built on first use: an emit whose outcome nobody reads pays nothing for it.
        if self._results is None:
            self._results = tuple(
                HandlerResult(sub.plugin, sub.name, error, value) for sub, error, value in self._raw
            )
        return self._results

    @property
    def ok(self) -> bool:
        return all(error is None for _, error, _ in self._raw)

    @property
    def failed(self) -> tuple[HandlerResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    @property
    def handled(self) -> bool:
        return bool(self._raw)

    def __repr__(self) -> str:
        return f"EventOutcome({self.event.name!r}, ran={len(self._raw)}, failed={len(self.failed)})"


@dataclass(frozen=True)
class Subscription:
    plugin: str
    pattern: str
    handler: Handler
    #: What outcomes and logs call the handler; defaults to its ``__qualname__``.
    label: str = ""
    name: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        name = self.label or getattr(self.handler, "__qualname__", None) or repr(self.handler)
        object.__setattr__(self, "name", name)

    def matches(self, event_name: str) -> bool:
        if self.pattern.endswith("*"):
            return event_name.startswith(self.pattern[:-1])
        return event_name == self.pattern


_Raw = tuple[Subscription, "BaseException | None", Any]
_Coroutine = types.CoroutineType


class _Resumed:
    """What ``await coroutine`` does after the coroutine's first step has run and yielded
    ``waiting_on``: pass what the event loop sends or throws through, until it returns."""

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coroutine, self._waiting_on = coroutine, waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation included: it must reach the handler
                try:
                    waiting_on = coroutine.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = coroutine.send(sent)
                except StopIteration as done:
                    return done.value


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
        if not subscriptions:
            return EventOutcome(event)
        token = _depth.set(depth + 1)
        try:
            if concurrent if concurrent is not None else self.concurrent:
                raw = await self._run_concurrently(subscriptions, event)
            else:
                raw = await self._run_in_order(subscriptions, event)
        finally:
            _depth.reset(token)
        return EventOutcome(event, raw)

    async def _run_in_order(
        self, subscriptions: tuple[Subscription, ...], event: PluginEvent
    ) -> list[_Raw]:
        """Run handlers one after the other, each bounded by the timeout.

        One cancel scope serves every handler of the emit (entering one per handler
        dominated the cost of an emit); its deadline is moved forward as handlers start.
        The first coroutine handler's first step runs at once, inside the scope, as ``await``
        would run it: if it finishes without waiting (a counter, a dict update), the emit
        arms no timer for it, which costs more than such a handler. Later handlers are
        awaited under the armed deadline (driving each by hand costs an exception apiece).
        """
        raw: list[_Raw] = []
        timeout = self.timeout
        # Re-arm once the clock has moved this much, each time for this long (DEADLINE_SLACK).
        stale = math.inf if timeout is None else timeout * DEADLINE_SLACK
        allowed = math.inf if timeout is None else timeout * (1 + DEADLINE_SLACK)
        index, count = 0, len(subscriptions)
        while index < count:
            sub = subscriptions[index]
            with anyio.CancelScope() as scope:
                armed = -math.inf
                eager = True
                while index < count:
                    sub = subscriptions[index]
                    try:
                        value = sub.handler(event)
                        if eager and type(value) is _Coroutine:
                            eager = False
                            try:
                                waiting_on = value.send(None)
                            except StopIteration as done:
                                value = done.value
                            else:
                                if timeout is not None:
                                    armed = time.monotonic()
                                    scope.deadline = anyio.current_time() + allowed
                                value = await _Resumed(value, waiting_on)
                        elif type(value) is _Coroutine or (
                            value is not None and inspect.isawaitable(value)
                        ):
                            if (now := time.monotonic()) - armed > stale:
                                armed = now
                                scope.deadline = anyio.current_time() + allowed
                            value = await value
                    except Exception as exc:
                        raw.append(self._failed(sub, event, exc))
                    else:
                        raw.append((sub, None, value))
                    index += 1
            if scope.cancelled_caught:  # ``sub`` ran past its deadline
                raw.append(self._failed(sub, event, self._timed_out(sub)))
                index += 1
        return raw

    async def _run_concurrently(
        self, subscriptions: tuple[Subscription, ...], event: PluginEvent
    ) -> list[_Raw]:
        results: list[_Raw | None] = [None] * len(subscriptions)

        async def run(index: int, sub: Subscription) -> None:
            try:
                with anyio.fail_after(self.timeout):
                    value = await await_maybe(sub.handler(event))
            except TimeoutError:
                results[index] = self._failed(sub, event, self._timed_out(sub))
            except Exception as exc:
                results[index] = self._failed(sub, event, exc)
            else:
                results[index] = (sub, None, value)

        async with anyio.create_task_group() as tg:
            for index, sub in enumerate(subscriptions):
                tg.start_soon(run, index, sub)
        return [result for result in results if result is not None]

    def _timed_out(self, sub: Subscription) -> TimeoutError:
        return TimeoutError(f"handler {sub.name} did not finish within {self.timeout:g}s")

    @staticmethod
    def _failed(sub: Subscription, event: PluginEvent, exc: BaseException) -> _Raw:
        if isinstance(exc, TimeoutError):
            _logger.error(
                "handler %s of plugin %r timed out on event %r", sub.name, sub.plugin, event.name
            )
        else:
            _logger.error(
                "handler %s of plugin %r failed on event %r: %r",
                sub.name,
                sub.plugin,
                event.name,
                exc,
                exc_info=not isinstance(exc, EventDepthError),
            )
        return (sub, exc, None)
