"""jaf-plugins: the plugin host for JAF, built on pluggy and anyio."""

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
from ._manager import PluginManager
from ._markers import ENTRY_POINT_GROUP, hookimpl, hookspec
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
from ._version import __version__

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
]

# Public classes report the public path, so reprs and tracebacks show `jaf_plugins.X`.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("jaf_plugins._"):
        _obj.__module__ = __name__
del _name, _obj
