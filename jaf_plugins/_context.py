"""``PluginContext``: what a plugin receives at ``initialize``, and its ``PluginConfig``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pydantic

from ._errors import MissingDependencyError

if TYPE_CHECKING:
    from ._manager import PluginManager
    from ._plugin import Plugin


class PluginConfig(Mapping[str, Any]):
    """One plugin's settings: a read-only mapping, with nested namespaces.

    ``get_namespace(ns)`` returns the nested mapping under key ``ns`` (empty if absent).
    The plugin's own namespace names (``<name>`` and ``plugin_<name>``) return the config
    itself, so the spec's ``context.config.get_namespace(f"plugin_{name}")`` reads the
    plugin's own settings. A plugin never sees another plugin's settings.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, *, namespace: str = "") -> None:
        self._data = dict(data or {})
        self.namespace = namespace

    def get_namespace(self, namespace: str) -> PluginConfig:
        if namespace in (self.namespace, f"plugin_{self.namespace}"):
            return self
        nested = self._data.get(namespace)
        if isinstance(nested, pydantic.BaseModel):
            nested = dict(nested)
        qualified = f"{self.namespace}.{namespace}" if self.namespace else namespace
        return PluginConfig(nested if isinstance(nested, Mapping) else {}, namespace=qualified)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"PluginConfig({self.namespace!r}, keys={sorted(self._data)})"


class PluginContext:
    """Handed to a plugin's ``initialize``: its logger, config, dependencies and cleanups."""

    def __init__(
        self,
        *,
        name: str,
        manager: PluginManager,
        config: PluginConfig,
        dependencies: Mapping[str, Plugin | None],
        settings: pydantic.BaseModel | None = None,
    ) -> None:
        self.name = name
        self.manager = manager
        self.config = config
        #: The plugin's ``settings_model``, validated; ``None`` when it declares none.
        self.settings = settings
        self._dependencies = dict(dependencies)
        # Made by the first add_cleanup: a host of thousands of plugins keeps a context
        # each, and every container in it is one more object for the garbage collector.
        self._cleanups: list[Callable[[], Any]] | None = None

    @property
    def logger(self) -> logging.Logger:
        """The plugin's logger, ``jaf.plugins.<name>`` (made on first use: most plugins of a
        large host never log, and thousands of idle loggers cost the garbage collector)."""
        return logging.getLogger(f"jaf.plugins.{self.name}")

    def get_dependency(self, name: str, required: bool = True) -> Plugin | None:
        """The active plugin ``name`` this plugin declared as a dependency.

        ``required=False`` returns ``None`` when it is absent or not active. Asking for a
        plugin that was not declared is an error: declare it so the host orders activation.
        """
        plugin = self._dependencies.get(name)
        if plugin is None and required:
            declared = name in self._dependencies
            raise MissingDependencyError(
                f"dependency {name!r} is not active"
                if declared
                else f"dependency {name!r} was not declared",
                plugin=self.name,
                hint=(
                    "pass required=False for optional dependencies"
                    if declared
                    else f"add {name!r} to metadata.dependencies"
                ),
            )
        return plugin

    def add_cleanup(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` (sync or async) when the plugin deactivates or fails to start.

        Callbacks run last-in first-out, after ``deactivate``, even if it failed.
        """
        if self._cleanups is None:
            self._cleanups = []
        self._cleanups.append(callback)

    def pop_cleanup(self) -> Callable[[], Any] | None:
        """The callback added last and not yet run (removed), or ``None``: for the host."""
        return self._cleanups.pop() if self._cleanups else None
