"""``Plugin`` and its kinds, with the metadata, dependency and status types they use."""

from __future__ import annotations

import enum
import functools
import logging
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ._errors import JafPluginsError, PluginValidationError

if TYPE_CHECKING:
    from ._agents import Agent
    from ._events import EventOutcome, Handler
    from ._tools import Tool

_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_REQUIREMENT_RE = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(.*?)\s*$")


class PluginStatus(str, enum.Enum):
    """Where a plugin is in its lifecycle.

    ``INACTIVE → INITIALIZING → ACTIVATING → ACTIVE → DEACTIVATING → INACTIVE``; any step can
    end in ``FAILED``. ``SKIPPED`` means a required dependency is not active, ``DISABLED`` that
    an allowlist or blocklist kept the plugin from being imported at all.
    """

    INACTIVE = "inactive"
    INITIALIZING = "initializing"
    ACTIVATING = "activating"
    ACTIVE = "active"
    DEACTIVATING = "deactivating"
    FAILED = "failed"
    SKIPPED = "skipped"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


def validate_plugin_name(name: object) -> str:
    """Return ``name`` if it is a valid plugin name, else raise ``PluginValidationError``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginValidationError(
            f"invalid plugin name {name!r}",
            hint="use letters, digits, '_', '-' or '.', starting and ending with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class PluginDependency:
    """A dependency on another plugin, by name, with an optional PEP 440 version constraint.

    ``PluginDependency("auth_plugin", ">=2.1.0", optional=True)``; a plain string such as
    ``"auth_plugin>=2.1"`` in ``PluginMetadata.dependencies`` means the same, required.
    """

    name: str
    constraint: str = ""
    optional: bool = False

    def __post_init__(self) -> None:
        validate_plugin_name(self.name)
        try:
            SpecifierSet(self.constraint)
        except InvalidSpecifier as exc:
            raise PluginValidationError(
                f"dependency {self.name!r} has an invalid version constraint {self.constraint!r}",
                hint="write a PEP 440 specifier such as '>=1.0,<2'",
            ) from exc

    @functools.cached_property
    def specifier(self) -> SpecifierSet:
        return SpecifierSet(self.constraint)

    @classmethod
    def parse(cls, value: str | PluginDependency) -> PluginDependency:
        """Accept a ``PluginDependency`` or a requirement string like ``"db>=1.0"``."""
        if isinstance(value, PluginDependency):
            return value
        match = _REQUIREMENT_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise PluginValidationError(
                f"invalid dependency {value!r}",
                hint="use a plugin name, optionally followed by a version constraint: 'db>=1.0'",
            )
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"{self.name}{self.constraint}" + (" (optional)" if self.optional else "")


@dataclass
class PluginMetadata:
    """What a plugin says about itself. Mutable, so ``self.metadata.name = ...`` works.

    An empty ``version`` is filled from the plugin's distribution when it has one,
    else becomes ``"0.0.0"``.
    """

    name: str = ""
    version: str = ""
    description: str = ""
    author: str = ""
    dependencies: list[str | PluginDependency] = field(default_factory=list)

    def parsed_dependencies(self) -> list[PluginDependency]:
        return [PluginDependency.parse(dep) for dep in self.dependencies]


def default_plugin_name(cls: type) -> str:
    """``EmailPlugin`` → ``email_plugin``; ``HTTPToolPlugin`` → ``http_tool_plugin``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", cls.__name__)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Plugin:
    """Base class of class-style plugins.

    Methods named like a hook in :mod:`jaf_plugins.hookspecs` are that hook's implementation;
    no marker needed. ``Plugin()`` takes no arguments and gives a usable ``metadata`` (name
    derived from the class), ``logger`` (``jaf.plugins.<name>``) and ``status``.
    """

    metadata: PluginMetadata
    tools: list[Tool]
    agents: list[Agent]
    status: PluginStatus
    settings_model: type[pydantic.BaseModel] | None = None
    """A pydantic model of this plugin's settings. The host builds it from the sources in
    the README ("Settings") before ``initialize``; the plugin reads it as
    ``context.settings`` (and as the mapping ``context.config``)."""

    def __init__(self) -> None:
        self.metadata = PluginMetadata(name=default_plugin_name(type(self)))
        # A subclass may list its tools and agents as class attributes; each instance
        # gets its own copy of the list.
        self.tools = list(getattr(type(self), "tools", []))
        self.agents = list(getattr(type(self), "agents", []))
        self.status = PluginStatus.INACTIVE
        self._logger: logging.Logger | None = None
        self._event_handlers: list[tuple[str, Handler]] = []  # in registration order
        self._emitter: Callable[..., Any] | None = None
        self._on_handlers_changed: Callable[[], None] | None = None

    # -- lifecycle defaults: succeed, do nothing -----------------------------------------

    async def initialize(self, context: Any) -> bool:
        return True

    async def activate(self) -> bool:
        return True

    async def deactivate(self) -> bool:
        return True

    # -- conveniences --------------------------------------------------------------------

    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            return logging.getLogger(f"jaf.plugins.{self.metadata.name}")
        return self._logger

    @logger.setter
    def logger(self, value: logging.Logger) -> None:
        self._logger = value

    def hook_object(self) -> object:
        """The object whose hook implementations pluggy registers (the plugin itself)."""
        return self

    # -- events --------------------------------------------------------------------------

    def register_event_handler(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Run ``handler(event)`` for every ``event_name`` event while this plugin is ACTIVE.

        The same handler registered twice for one event runs once. ``event_name`` may end in
        ``*`` to subscribe to every event with that prefix (``"user.*"``, or ``"*"`` for all).
        """
        if (event_name, handler) not in self._event_handlers:
            self._event_handlers.append((event_name, handler))
            if self._on_handlers_changed is not None:
                self._on_handlers_changed()

    def event_handler(self, event_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`register_event_handler`.

        A function whose first parameter is named ``self`` is bound to this plugin, so
        ``@self.event_handler("x")`` works on ``async def handle(self, event)`` too.
        """

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            handler = _bind_if_wants_self(fn, self)
            self.register_event_handler(event_name, handler)
            return handler

        return decorate

    async def emit_event(self, event_name: str, data: Any = None) -> EventOutcome:
        """Emit an event through the manager this plugin is loaded in, as its source."""
        if self._emitter is None:
            raise JafPluginsError(
                f"cannot emit {event_name!r}: the plugin is not loaded in a PluginManager",
                plugin=self.metadata.name,
                hint="load it with `await manager.load_plugin(name, plugin)` first",
            )
        outcome: EventOutcome = await self._emitter(event_name, data, source=self.metadata.name)
        return outcome

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.metadata.name!r} {self.status.value}>"


def _bind_if_wants_self(fn: Callable[..., Any], plugin: Plugin) -> Callable[..., Any]:
    code = getattr(fn, "__code__", None)
    if (
        isinstance(fn, types.FunctionType)
        and code is not None
        and code.co_argcount >= 2
        and code.co_varnames[0] == "self"
    ):
        return types.MethodType(fn, plugin)
    return fn


class ToolPlugin(Plugin):
    """A plugin that offers tools: override :meth:`get_tools`."""

    def get_tools(self) -> list[Tool]:
        return []


class AgentPlugin(Plugin):
    """A plugin that offers agents: override :meth:`get_agents`."""

    def get_agents(self) -> list[Agent]:
        return []


class IntegrationPlugin(ToolPlugin):
    """A plugin that connects to an external service and offers tools for it."""


class ModulePlugin(Plugin):
    """Wraps a module of ``@hookimpl`` functions so it is handled like any other plugin.

    Its name comes from the entry point (or file), its version and description from its
    distribution. A module may define ``metadata = PluginMetadata(dependencies=[...])``
    to declare dependencies and override the rest.
    """

    def __init__(self, module: types.ModuleType, name: str) -> None:
        super().__init__()
        self.module = module
        declared = getattr(module, "metadata", None)
        if isinstance(declared, PluginMetadata):
            self.metadata = PluginMetadata(**vars(declared))
        self.metadata.name = name
        model = getattr(module, "settings_model", None)
        if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            self.settings_model = model
        if not self.metadata.description and module.__doc__:
            self.metadata.description = module.__doc__.strip().splitlines()[0]

    def hook_object(self) -> object:
        return self.module

    def __repr__(self) -> str:
        return f"<ModulePlugin {self.metadata.name!r} {self.module.__name__} {self.status.value}>"


NO_OP_HOOKS = frozenset(
    {
        Plugin.initialize,
        Plugin.activate,
        Plugin.deactivate,
        ToolPlugin.get_tools,
        AgentPlugin.get_agents,
    }
)
"""The base classes' do-nothing hook methods: a plugin that does not override one has no
implementation of that hook, so the host does not spend a call (and a timeout) on it."""
