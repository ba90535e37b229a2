"""The hooks a jaf plugin can implement: the contract plugin authors read.

A plugin implements a hook either as a method of a :class:`~jaf_plugins.Plugin` subclass
with the hook's name, or as a module-level function marked ``@jaf_plugins.hookimpl``.
An implementation may take any subset of the arguments below, by name, and may be a plain
function or a coroutine function: the host awaits what needs awaiting.

Two kinds of hooks:

* **Per-plugin** hooks (``initialize``, ``activate``, ``deactivate``, ``get_tools``,
  ``get_agents``) are called on one plugin at a time, by the lifecycle, under that plugin's
  timeout. Raising, or returning ``False`` from a lifecycle hook, fails that plugin only.
* **Broadcast** hooks (``on_event`` and the ``on_host_*``/``on_plugin_*`` observers) are called
  on every active plugin that implements them. An implementation that raises is logged
  with its plugin's name and never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from ._agents import Agent
    from ._context import PluginContext
    from ._events import PluginEvent
    from ._manager import PluginManager
    from ._plugin import Plugin, PluginStatus
    from ._tools import Tool


# -- lifecycle (per plugin) ------------------------------------------------------------------


@hookspec
def initialize(context: PluginContext) -> bool | None:
    """Set the plugin up: open connections, read ``context.config``, look up dependencies.

    Runs once every required dependency is ACTIVE. Return ``False`` (or raise) to fail;
    ``None`` counts as success. Resources registered with ``context.add_cleanup`` are
    released if any later step fails.
    """


@hookspec
def activate() -> bool | None:
    """Start offering functionality. Runs after ``initialize`` succeeded.

    Return ``False`` (or raise) to fail; the host then calls ``deactivate``.
    """


@hookspec
def deactivate() -> bool | None:
    """Release what ``initialize``/``activate`` took. Runs in reverse dependency order,
    also when the surrounding task is being cancelled."""


@hookspec
def get_tools() -> Iterable[Tool]:
    """Tools this plugin offers. Called once, right after the plugin activates."""
    raise NotImplementedError  # pragma: no cover - documentation only


@hookspec
def get_agents() -> Iterable[Agent]:
    """Agents this plugin offers. Called once, right after the plugin activates."""
    raise NotImplementedError  # pragma: no cover - documentation only


# -- broadcast -------------------------------------------------------------------------------


@hookspec
def on_event(event: PluginEvent) -> None:
    """Receive every event emitted through the manager, whatever its name."""


@hookspec
def on_host_started(manager: PluginManager) -> None:
    """The manager finished activating plugins (on ``async with`` entry or ``activate_all``)."""


@hookspec
def on_host_stopping(manager: PluginManager) -> None:
    """The manager is about to deactivate every plugin."""


@hookspec
def on_plugin_activated(name: str, plugin: Plugin) -> None:
    """Plugin ``name`` became ACTIVE."""


@hookspec
def on_plugin_deactivated(name: str, plugin: Plugin) -> None:
    """Plugin ``name`` was deactivated."""


@hookspec
def on_plugin_failed(name: str, status: PluginStatus, reason: str) -> None:
    """Plugin ``name`` became FAILED or SKIPPED; ``reason`` says why."""


@hookspec
def on_plugin_reloaded(name: str, plugin: Plugin) -> None:
    """Plugin ``name`` was reloaded: ``plugin`` is the new instance, now ACTIVE."""


@hookspec
def on_plugin_reload_failed(name: str, reason: str) -> None:
    """Reloading ``name`` failed; the previous version keeps running. ``reason`` says why."""


PER_PLUGIN_HOOKS = frozenset({"initialize", "activate", "deactivate", "get_tools", "get_agents"})
"""Hooks the lifecycle calls on one plugin at a time."""
