"""The built-in plugins ``core`` (the host) and ``tools`` (the tool registry).

They are always ACTIVE, at the jaf-plugins version, so ``PluginDependency("core", ">=0.1")``
pins the host and the spec's ``dependencies=["core", "tools"]`` resolve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._plugin import Plugin, PluginMetadata
from ._tools import Tool
from ._version import __version__

if TYPE_CHECKING:
    from ._manager import PluginManager


class CorePlugin(Plugin):
    """``context.get_dependency("core")``: gives access to the manager."""

    def __init__(self, manager: PluginManager) -> None:
        super().__init__()
        self.manager = manager
        self.metadata = PluginMetadata(
            name="core", version=__version__, description="The jaf-plugins host itself"
        )


class ToolsPlugin(Plugin):
    """``context.get_dependency("tools")``: looks up tools offered by active plugins."""

    def __init__(self, manager: PluginManager) -> None:
        super().__init__()
        self._manager = manager
        self.metadata = PluginMetadata(
            name="tools", version=__version__, description="Registry of tools from all plugins"
        )

    def get_tool(self, name: str) -> Tool | None:
        return self._manager.get_tool(name)

    def list_tools(self) -> list[Tool]:
        return self._manager.list_tools()
