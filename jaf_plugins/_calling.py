"""The one place where hook implementations are called and their results awaited."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import pluggy

DEADLINE_SLACK = 0.01
"""A deadline shared by a run of steps (event handlers, a plugin's lifecycle hooks) is
re-armed only once the clock has moved by this share of the timeout: a fast step costs a
clock read, not a timer. Each step gets at least the whole timeout, and at most 1% more."""

_trace_logger = logging.getLogger("jaf.plugins.trace")

Tracer = Callable[[str, str, Mapping[str, Any], float, BaseException | None], None]
_tracer: Tracer | None = None


def set_tracer(tracer: Tracer | None) -> None:
    """Install ``tracer(plugin, hook, kwargs, seconds, error)``, called after every hook call."""
    global _tracer
    _tracer = tracer


async def await_maybe(value: Any) -> Any:
    """Await ``value`` if it is awaitable (datasette's ``await_me_maybe``)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call_impl(impl: pluggy.HookImpl, kwargs: Mapping[str, Any]) -> Any:
    """Call one hook implementation with the arguments it asks for, awaiting if needed."""
    args = [kwargs[name] for name in impl.argnames]
    if _tracer is None:
        return await await_maybe(impl.function(*args))
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        return await await_maybe(impl.function(*args))
    except BaseException as exc:
        error = exc
        raise
    finally:
        hook = getattr(impl.function, "__name__", "?")
        _tracer(impl.plugin_name, hook, kwargs, time.perf_counter() - started, error)


async def broadcast(
    impls: list[pluggy.HookImpl], kwargs: Mapping[str, Any], *, hook: str
) -> list[tuple[str, BaseException]]:
    """Call every implementation in pluggy's order; one that raises never stops the rest.

    Returns ``(plugin name, error)`` for each implementation that raised; each is logged.
    """
    errors: list[tuple[str, BaseException]] = []
    for impl in reversed(impls):  # pluggy calls the last registered (and tryfirst) first
        try:
            await call_impl(impl, kwargs)
        except Exception as exc:
            logging.getLogger(f"jaf.plugins.{impl.plugin_name}").exception(
                "hook %s of plugin %r raised", hook, impl.plugin_name
            )
            errors.append((impl.plugin_name, exc))
    return errors
