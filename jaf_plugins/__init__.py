"""jaf-plugins: the plugin host for JAF, built on pluggy and anyio.

Names are imported from their modules on first use (PEP 562), so ``import jaf_plugins``
costs next to nothing and listing installed plugins (``installed_plugins()``) never pays
for pydantic or pluggy.
"""

from ._version import __version__

# Nothing is imported here that a bare interpreter has not loaded already, so that a warm
# ``installed_plugins()`` stays within a few ms of ``python -c pass``: not typing (mypy treats
# any name TYPE_CHECKING as true), not importlib, not even ``from __future__``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any as _Any

    from . import hookspecs
    from ._agents import Agent
    from ._context import PluginConfig, PluginContext
    from ._errors import (
        DependencyCycleError,
        DependencyError,
        DependencyFailedError,
        DependencyVersionError,
        DuplicatePluginError,
        EventDepthError,
        EventError,
        JafPluginsError,
        LifecycleError,
        MissingDependencyError,
        PluginLoadError,
        PluginNotFoundError,
        PluginTimeoutError,
        PluginValidationError,
        ReloadError,
        SettingsError,
        ToolConflictError,
        ToolDefinitionError,
        ToolError,
        ToolValidationError,
    )
    from ._events import EventHandler, EventOutcome, HandlerResult, PluginEvent
    from ._installed import ENTRY_POINT_GROUP, InstalledPlugin, installed_plugins
    from ._jaf import jaf_agent_registry
    from ._manager import PluginManager
    from ._markers import hookimpl, hookspec
    from ._plugin import (
        AgentPlugin,
        IntegrationPlugin,
        Plugin,
        PluginDependency,
        PluginMetadata,
        PluginStatus,
        ToolPlugin,
    )
    from ._registry import PluginInfo
    from ._tools import Tool, ToolSchema
del TYPE_CHECKING

_SOURCES = {
    "._agents": ["Agent"],
    "._context": ["PluginConfig", "PluginContext"],
    "._errors": [
        "DependencyCycleError",
        "DependencyError",
        "DependencyFailedError",
        "DependencyVersionError",
        "DuplicatePluginError",
        "EventDepthError",
        "EventError",
        "JafPluginsError",
        "LifecycleError",
        "MissingDependencyError",
        "PluginLoadError",
        "PluginNotFoundError",
        "PluginTimeoutError",
        "PluginValidationError",
        "ReloadError",
        "SettingsError",
        "ToolConflictError",
        "ToolDefinitionError",
        "ToolError",
        "ToolValidationError",
    ],
    "._events": ["EventHandler", "EventOutcome", "HandlerResult", "PluginEvent"],
    "._installed": ["ENTRY_POINT_GROUP", "InstalledPlugin", "installed_plugins"],
    "._jaf": ["jaf_agent_registry"],
    "._manager": ["PluginManager"],
    "._markers": ["hookimpl", "hookspec"],
    "._plugin": [
        "AgentPlugin",
        "IntegrationPlugin",
        "Plugin",
        "PluginDependency",
        "PluginMetadata",
        "PluginStatus",
        "ToolPlugin",
    ],
    "._registry": ["PluginInfo"],
    "._tools": ["Tool", "ToolSchema"],
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentPlugin",
    "DependencyCycleError",
    "DependencyError",
    "DependencyFailedError",
    "DependencyVersionError",
    "DuplicatePluginError",
    "EventDepthError",
    "EventError",
    "EventHandler",
    "EventOutcome",
    "HandlerResult",
    "InstalledPlugin",
    "IntegrationPlugin",
    "JafPluginsError",
    "LifecycleError",
    "MissingDependencyError",
    "Plugin",
    "PluginConfig",
    "PluginContext",
    "PluginDependency",
    "PluginEvent",
    "PluginInfo",
    "PluginLoadError",
    "PluginManager",
    "PluginMetadata",
    "PluginNotFoundError",
    "PluginStatus",
    "PluginTimeoutError",
    "PluginValidationError",
    "ReloadError",
    "SettingsError",
    "Tool",
    "ToolConflictError",
    "ToolDefinitionError",
    "ToolError",
    "ToolPlugin",
    "ToolSchema",
    "ToolValidationError",
    "__version__",
    "hookimpl",
    "hookspec",
    "hookspecs",
    "installed_plugins",
    "jaf_agent_registry",
]


def __getattr__(name: str) -> "_Any":
    if name == "hookspecs":
        return __import__("hookspecs", globals(), None, ["*"], 1)
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(module[1:], globals(), None, [name], 1), name)
    if getattr(value, "__module__", "").startswith("jaf_plugins._"):
        value.__module__ = __name__  # reprs and tracebacks show the public path
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
