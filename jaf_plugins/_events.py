"""Events between plugins: ``PluginEvent``, ``@EventHandler`` and the dispatch table."""

from __future__ import annotations

import contextvars
import inspect
import logging
import math
import sys
import time
import types
import weakref
from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import anyio

from ._calling import await_maybe
from ._errors import EventDepthError

Handler = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

_EVENT_ATTR = "__jaf_event_names__"
# Nesting of emits (see ``_nesting``). ``_in_progress`` counts the emits running or waiting
# anywhere, which no one chain of nested emits can outnumber, so the stack is only walked once
# it reaches the limit. ``_inherited`` is where a task that concurrent dispatch started for a
# handler begins (the emits above it are not on its stack).
_in_progress = 0
_inherited: contextvars.ContextVar[int] = contextvars.ContextVar("jaf_event_depth", default=0)
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


class _Failure:
    """What a handler that failed leaves among the values of a run."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class EventOutcome:
    """What ``emit_event`` did: the event and one result per handler that ran, in order."""

    __slots__ = ("_results", "_subscriptions", "_values", "event")
    _results: tuple[HandlerResult, ...]  # made on first use

    def __init__(
        self,
        event: PluginEvent,
        subscriptions: Sequence[Subscription] = (),
        values: Sequence[Any] = (),
    ) -> None:
        # What each handler returned, or a ``_Failure``; results are made on first use (an
        # emit whose outcome nobody reads pays nothing for them).
        self.event, self._subscriptions, self._values = event, subscriptions, values

    @property
    def results(self) -> tuple[HandlerResult, ...]:
        try:
            return self._results
        except AttributeError:
            self._results = tuple(
                HandlerResult(sub.plugin, sub.name, value.error)
                if type(value) is _Failure
                else HandlerResult(sub.plugin, sub.name, None, value)
                for sub, value in zip(self._subscriptions, self._values, strict=True)
            )
            return self._results

    @property
    def ok(self) -> bool:
        return all(type(value) is not _Failure for value in self._values)

    @property
    def failed(self) -> tuple[HandlerResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    @property
    def handled(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return (
            f"EventOutcome({self.event.name!r}, ran={len(self._values)}, failed={len(self.failed)})"
        )


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


_Coroutine = types.CoroutineType


class _Dispatch(NamedTuple):
    """The handlers of one event name, in dispatch order."""

    subscriptions: tuple[Subscription, ...]
    handlers: tuple[Handler, ...]
    #: Every handler is an ``async def``: the run awaits each without looking at what it got.
    all_async: bool


_NO_HANDLERS = _Dispatch((), (), True)
_new_outcome = object.__new__
_FINISHED = object()


class _Waiting:
    """The rest of an in-order run once one of its handlers waits.

    Awaiting it passes what the event loop sends or throws through to the run, and each wait
    happens inside a fresh cancel scope with the waiting handler's deadline: entered after the
    handler has opened scopes of its own and exited before it resumes, so the scopes still nest.
    A handler found waiting at its deadline is cancelled there and at each later wait, and is
    reported as timed out however it ends (a task group of its own may swallow the
    cancellation). Gives ``True`` once the run is over, ``False`` if it ended at a handler
    cancelled by its deadline (that handler is then recorded, and the run must go on after it).
    """

    __slots__ = ("_run", "_timed_out", "_timeout", "_values", "_waiting_on")

    def __init__(
        self,
        run: Coroutine[Any, Any, None],
        waiting_on: Any,
        values: list[Any],
        timeout: float | None,
        timed_out: Callable[[int], _Failure],
    ) -> None:
        self._run, self._waiting_on, self._values = run, waiting_on, values
        self._timeout, self._timed_out = timeout, timed_out

    def __await__(self) -> Generator[Any, Any, bool]:
        run, waiting_on, values, timeout = self._run, self._waiting_on, self._values, self._timeout
        cancelled = anyio.get_cancelled_exc_class()
        index = len(values)  # the handler waiting now is the one after those with a value
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        cut = False  # was handler ``index`` waiting at its deadline?

        def settle() -> None:  # handler ``index`` is done: cut means timed out, however it ended
            if cut and type(values[index]) is not _Failure:
                values[index] = self._timed_out(index)

        while True:
            sent: Any = None
            thrown: BaseException | None = None
            scope = anyio.CancelScope(deadline=deadline)
            try:
                with scope:
                    try:
                        sent = yield waiting_on
                    except BaseException as exc:
                        thrown = exc
                        raise
            except BaseException:  # not the deadline (that one the scope catches): pass it on
                if type(thrown) is GeneratorExit:
                    run.close()
                    raise
            cut = cut or scope.cancel_called
            try:
                waiting_on = run.send(sent) if thrown is None else run.throw(thrown)
            except StopIteration:
                settle()
                return True
            except cancelled:
                if (
                    cut
                    and len(values) == index
                    and (
                        scope.cancelled_caught  # asyncio throws the deadline's cancellation
                        or (  # trio sends it to the wait, which raises it
                            thrown is None and anyio.current_effective_deadline() != -math.inf
                        )
                    )
                ):
                    values.append(self._timed_out(index))
                    return False
                raise
            if len(values) != index:  # that handler is done and a later one waits
                settle()
                index, cut = len(values), False
                if timeout is not None:
                    deadline = anyio.current_time() + timeout


class EventBus:
    """Dispatches events to subscriptions, using a table rebuilt only when handlers change."""

    def __init__(self, *, timeout: float | None, max_depth: int, concurrent: bool) -> None:
        self.timeout = timeout
        self.max_depth = max_depth
        self.concurrent = concurrent
        self._subscriptions: Callable[[], list[Subscription]] = list
        self._all: list[Subscription] | None = None
        self._table: dict[str, _Dispatch] = {}

    def set_source(self, subscriptions: Callable[[], list[Subscription]]) -> None:
        """``subscriptions()`` lists every active subscription in dispatch order."""
        self._subscriptions = subscriptions
        self.invalidate()

    def invalidate(self) -> None:
        self._all = None
        self._table = {}

    def _dispatch(self, event_name: str) -> _Dispatch:
        if self._all is None:
            self._all = self._subscriptions()
        subscriptions = tuple(s for s in self._all if s.matches(event_name))
        handlers = tuple(s.handler for s in subscriptions)
        table = self._table[event_name] = (
            _Dispatch(subscriptions, handlers, all(map(inspect.iscoroutinefunction, handlers)))
            if subscriptions
            else _NO_HANDLERS
        )
        return table

    async def emit(self, event: PluginEvent) -> EventOutcome:
        global _in_progress
        if _in_progress >= self.max_depth and (depth := _nesting()) >= self.max_depth:
            raise EventDepthError(
                f"event {event.name!r} emitted at depth {depth}: handlers keep emitting events",
                plugin=event.source,
                hint=f"break the emit loop, or raise max_event_depth (now {self.max_depth})",
            )
        try:
            table = self._table[event.name]
        except KeyError:
            table = self._dispatch(event.name)
        subscriptions, handlers, all_async = table
        if not handlers:
            return EventOutcome(event)
        values: list[Any] = []
        _in_progress += 1
        try:
            if self.concurrent:
                await self._run_concurrently(subscriptions, event, values, _nesting())
            else:
                # The run's first step is taken here, by iterating it (which, unlike
                # ``send()``, raises nothing when it ends). If no handler waits, that step is
                # the whole run, and no cancel scope or timer was needed (they would cost more
                # than handlers that only update state).
                run = self._run_in_order(subscriptions, handlers, all_async, event, values)
                for waiting_on in run.__await__():
                    await self._finish_in_order(run, waiting_on, table, event, values)
                    break
        finally:
            _in_progress -= 1
        # ``EventOutcome(...)`` without its ``__init__`` call, which was a sixth of an emit to
        # one quick handler.
        outcome = _new_outcome(EventOutcome)
        outcome.event, outcome._subscriptions, outcome._values = event, subscriptions, values
        return outcome

    async def _run_in_order(
        self,
        subscriptions: tuple[Subscription, ...],
        handlers: tuple[Handler, ...],
        all_async: bool,
        event: PluginEvent,
        values: list[Any],
    ) -> None:
        """Run ``handlers``, those with no value yet, one after the other."""
        if all_async:
            for handler in handlers:
                try:
                    values.append(await handler(event))
                except Exception as exc:
                    values.append(self._failed(subscriptions[len(values)], event, exc))
            return
        for handler in handlers:
            try:
                value = handler(event)
                if type(value) is _Coroutine or (value is not None and inspect.isawaitable(value)):
                    value = await value
            except Exception as exc:
                value = self._failed(subscriptions[len(values)], event, exc)
            values.append(value)

    async def _finish_in_order(
        self,
        run: Coroutine[Any, Any, None],
        waiting_on: Any,
        table: _Dispatch,
        event: PluginEvent,
        values: list[Any],
    ) -> None:
        """A handler waits: bound it and the rest by the timeout (see ``_Waiting``)."""
        subscriptions, handlers, all_async = table

        def timed_out(index: int) -> _Failure:
            sub = subscriptions[index]
            return self._failed(sub, event, self._timed_out(sub))

        while not await _Waiting(run, waiting_on, values, self.timeout, timed_out):
            rest = handlers[len(values) :]
            run = self._run_in_order(subscriptions, rest, all_async, event, values)
            waiting_on = next(run.__await__(), _FINISHED)  # its first step, as in ``emit``
            if waiting_on is _FINISHED:
                return

    async def _run_concurrently(
        self,
        subscriptions: tuple[Subscription, ...],
        event: PluginEvent,
        values: list[Any],
        depth: int,
    ) -> None:
        values += [None] * len(subscriptions)

        async def run(index: int, sub: Subscription) -> None:
            _inherited.set(depth + 1)  # the emits above are not on this new task's stack
            try:
                with anyio.fail_after(self.timeout):
                    values[index] = await await_maybe(sub.handler(event))
            except TimeoutError:
                values[index] = self._failed(sub, event, self._timed_out(sub))
            except Exception as exc:
                values[index] = self._failed(sub, event, exc)

        async with anyio.create_task_group() as tg:
            for index, sub in enumerate(subscriptions):
                tg.start_soon(run, index, sub)

    def _timed_out(self, sub: Subscription) -> TimeoutError:
        return TimeoutError(f"handler {sub.name} did not finish within {self.timeout:g}s")

    @staticmethod
    def _failed(sub: Subscription, event: PluginEvent, exc: BaseException) -> _Failure:
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
        return _Failure(exc)


_EMIT_CODE = EventBus.emit.__code__


def _nesting() -> int:
    """How many emits the caller's emit is nested in (see ``_inherited``); walks the stack, so
    it is only called when ``_in_progress`` says the limit may be near."""
    depth = _inherited.get()
    frame: types.FrameType | None = sys._getframe(2)  # the caller of the emit that asks
    while frame is not None:
        if frame.f_code is _EMIT_CODE:
            depth += 1
        frame = frame.f_back
    return depth
