"""What the manager knows about each plugin: one record per name, pluggy registration,
and the indexes of hook implementations, tools and agents."""

from __future__ import annotations

import dataclasses
import traceback
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy
from packaging.version import InvalidVersion, Version

from . import hookspecs
from ._agents import Agent
from ._context import PluginContext
from ._discovery import Candidate
from ._errors import (
    DuplicatePluginError,
    JafPluginsError,
    PluginValidationError,
    ToolConflictError,
)
from ._events import marked_handlers
from ._markers import PROJECT_NAME
from ._plugin import (
    NO_OP_HOOKS,
    Plugin,
    PluginDependency,
    PluginStatus,
    default_plugin_name,
    validate_plugin_name,
)
from ._tools import Tool
from .hookspecs import PER_PLUGIN_HOOKS

HOOK_NAMES = frozenset(
    name for name in vars(hookspecs) if hasattr(getattr(hookspecs, name), PROJECT_NAME + "_spec")
)
BUILTIN_SOURCE = "builtin"
_Offered = TypeVar("_Offered", Tool, Agent)


class _PluggyManager(pluggy.PluginManager):
    """pluggy's manager, also taking ``Plugin`` methods named like a hook as implementations."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        # pluggy inspects every attribute with ``getattr_static`` (milliseconds per plugin);
        # what a class's attributes are does not change, so it is worked out once per class.
        if isinstance(plugin, Plugin) and name not in vars(plugin):
            known = _HOOKIMPL_OPTS.setdefault(type(plugin), {})
            if name not in known:
                known[name] = self._parse(plugin, name)
            return known[name]
        return self._parse(plugin, name)

    def _parse(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if (
            opts is None
            and isinstance(plugin, Plugin)
            and name in HOOK_NAMES
            and callable(getattr(plugin, name, None))
        ):
            return pluggy.HookimplOpts(
                wrapper=False,
                hookwrapper=False,
                optionalhook=False,
                tryfirst=False,
                trylast=False,
                specname=None,
            )
        return opts


_CLASS_IMPLS: weakref.WeakKeyDictionary[type, list[tuple[str, pluggy.HookimplOpts]]] = (
    weakref.WeakKeyDictionary()
)
_HOOKIMPL_OPTS: weakref.WeakKeyDictionary[type, dict[str, pluggy.HookimplOpts | None]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class PluginInfo:
    """A snapshot of what the manager knows about one plugin, safe to print or serialise."""

    name: str
    version: str | None
    description: str
    distribution: str | None
    source: str
    """``entry-point``, ``directory``, ``explicit`` or ``builtin``."""
    target: str | None
    status: PluginStatus
    error: str | None
    note: str | None
    dependencies: tuple[str, ...]
    hooks: tuple[str, ...]
    tools: tuple[str, ...]
    agents: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        for key in ("dependencies", "hooks", "tools", "agents"):
            data[key] = list(data[key])
        return data


@dataclass(eq=False)
class PluginRecord:
    """Everything known about one plugin name, healthy or not."""

    name: str
    source: str
    target: str | None = None
    distribution: str | None = None
    dist_version: str | None = None
    plugin: Plugin | None = None
    status: PluginStatus = PluginStatus.INACTIVE
    error: JafPluginsError | None = None
    traceback: str | None = None
    version: Version | None = None
    dependencies: list[PluginDependency] = field(default_factory=list)
    impls: dict[str, pluggy.HookImpl] = field(default_factory=dict)
    context: PluginContext | None = None
    tools: list[Tool] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    note: str | None = None
    """Why a DISABLED plugin was not loaded."""
    candidate: Candidate | None = field(default=None, repr=False)
    """Where the plugin came from: what a reload imports again."""

    def set_status(self, status: PluginStatus) -> None:
        self.status = status
        if self.plugin is not None:
            self.plugin.status = status

    def fail(self, status: PluginStatus, error: JafPluginsError) -> None:
        self.set_status(status)
        self.error = error
        cause = error.__cause__
        if cause is not None:
            self.traceback = "".join(traceback.format_exception(cause))

    @property
    def reason(self) -> str | None:
        return str(self.error) if self.error is not None else None

    def info(self) -> PluginInfo:
        version = self.version or self.dist_version
        return PluginInfo(
            name=self.name,
            version=str(version) if version is not None else None,
            description=self.plugin.metadata.description if self.plugin else "",
            distribution=self.distribution,
            source=self.source,
            target=self.target,
            status=self.status,
            error=self.reason,
            note=self.note,
            dependencies=tuple(str(dep) for dep in self.dependencies),
            hooks=tuple(sorted(self.impls)),
            tools=tuple(tool.name for tool in self.tools),
            agents=tuple(agent.name for agent in self.agents),
        )


class Registry:
    def __init__(self) -> None:
        self.pluggy = _PluggyManager(PROJECT_NAME)
        self.pluggy.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.problems: list[JafPluginsError] = []
        """Errors that belong to no record: a discovered plugin whose name was taken."""
        self._tools: dict[str, list[Tool]] = {}
        self._agents: dict[str, list[Agent]] = {}

    # -- records ---------------------------------------------------------------------------

    def record_failure(
        self, candidate: Candidate, error: JafPluginsError, status: PluginStatus
    ) -> PluginRecord:
        record = PluginRecord(
            name=candidate.name,
            source=candidate.source,
            target=candidate.target,
            distribution=candidate.distribution,
            dist_version=candidate.dist_version,
        )
        record.fail(status, error)
        return self._add(record, candidate)

    def record_disabled(self, candidate: Candidate, note: str) -> PluginRecord:
        record = PluginRecord(
            name=candidate.name,
            source=candidate.source,
            target=candidate.target,
            distribution=candidate.distribution,
            dist_version=candidate.dist_version,
            status=PluginStatus.DISABLED,
            note=note,
        )
        return self._add(record, candidate)

    def register(self, plugin: Plugin, candidate: Candidate, *, bind_name: bool) -> PluginRecord:
        """Validate ``plugin`` and register it with pluggy under its final name."""
        record = self._validated(plugin, candidate, bind_name=bind_name)
        self._check_free(record.name, candidate)
        self._check_hooks(record)
        self._register_with_pluggy(record)
        return self._add(record, candidate)

    def stage(self, plugin: Plugin, candidate: Candidate, *, bind_name: bool) -> PluginRecord:
        """A record for a reload's new instance: validated like ``register`` but not
        registered, so it can start beside the running one."""
        record = self._validated(plugin, candidate, bind_name=bind_name)
        self._check_hooks(record)
        record.candidate = candidate
        return record

    def swap(
        self, old: PluginRecord, new: PluginRecord, tools: list[Tool], agents: list[Agent]
    ) -> None:
        """Put ``new`` in ``old``'s place in one step (no awaits): pluggy registration, the
        record, and the index of tools, agents and event handlers."""
        assert old.plugin is not None and new.plugin is not None
        self.withdraw(old)
        if self.pluggy.is_registered(old.plugin.hook_object()):
            self.pluggy.unregister(old.plugin.hook_object())
        self._register_with_pluggy(new)
        self.records[new.name] = new
        self.publish(new, tools, agents)

    def _check_hooks(self, record: PluginRecord) -> None:
        """Check each hook implementation's parameters against its specification.

        Only plugins implementing a broadcast hook (``on_event``, the observers) are then
        registered with pluggy: pluggy's registration is linear in the number of plugins
        already registered, which made starting thousands of plugins quadratic, and the
        per-plugin hooks are called through ``record.impls`` anyway.
        """
        assert record.plugin is not None
        impls = self._impls_of(record.plugin.hook_object(), record.name)
        for hook_name, impl in impls.items():
            caller = getattr(self.pluggy.hook, hook_name, None)
            spec = caller.spec if caller is not None else None
            unknown = [a for a in impl.argnames if spec is not None and a not in spec.argnames]
            if unknown:
                assert spec is not None
                raise PluginValidationError(
                    "hook implementation does not match its specification: "
                    f"{hook_name}({', '.join(impl.argnames)}) takes {', '.join(unknown)}, "
                    f"which the hook does not pass (it passes {', '.join(spec.argnames)})",
                    plugin=record.name,
                    distribution=record.distribution,
                    hint="name the parameters as in jaf_plugins.hookspecs (e.g. "
                    "initialize(self, context), on_event(self, event))",
                )
        record.impls = impls

    def _register_with_pluggy(self, record: PluginRecord) -> None:
        if record.plugin is not None and any(h not in PER_PLUGIN_HOOKS for h in record.impls):
            self.pluggy.register(record.plugin.hook_object(), name=record.name)

    def _validated(self, plugin: Plugin, candidate: Candidate, *, bind_name: bool) -> PluginRecord:
        if "metadata" not in vars(plugin):
            raise PluginValidationError(
                f"{type(plugin).__qualname__} did not call super().__init__()",
                plugin=candidate.name,
                distribution=candidate.distribution,
                hint="call super().__init__() first thing in __init__",
            )
        meta = plugin.metadata
        if bind_name:
            if meta.name in ("", default_plugin_name(type(plugin))):
                meta.name = candidate.name
            elif meta.name != candidate.name:
                raise PluginValidationError(
                    f"registered as {candidate.name!r} but its metadata.name is {meta.name!r}",
                    plugin=candidate.name,
                    distribution=candidate.distribution,
                    hint=f"use one name: rename the entry point to {meta.name!r} "
                    f"or set metadata.name = {candidate.name!r}",
                )
        name = candidate.name = meta.name
        try:
            validate_plugin_name(name)
            if not meta.version:
                meta.version = candidate.dist_version or "0.0.0"
            version = _parse_version(meta.version, name, candidate.distribution)
            dependencies = meta.parsed_dependencies()
        except JafPluginsError as exc:
            raise exc.about(name, candidate.distribution) from exc.__cause__
        record = PluginRecord(
            name=name,
            source=candidate.source,
            target=candidate.target,
            distribution=candidate.distribution,
            dist_version=candidate.dist_version,
            plugin=plugin,
            version=version,
            dependencies=dependencies,
        )
        record.set_status(PluginStatus.INACTIVE)
        return record

    def unregister(self, record: PluginRecord) -> None:
        if record.plugin is not None and self.pluggy.is_registered(record.plugin.hook_object()):
            self.pluggy.unregister(record.plugin.hook_object())
        self.records.pop(record.name, None)

    def _check_free(self, name: str, candidate: Candidate) -> None:
        existing = self.records.get(name)
        if existing is not None:
            where = existing.distribution or existing.target or existing.source
            raise DuplicatePluginError(
                f"the name {name!r} is already taken by a plugin from {where!r}",
                plugin=name,
                distribution=candidate.distribution,
                hint="uninstall or block one of the two, or give this one another name",
            )

    def _add(self, record: PluginRecord, candidate: Candidate) -> PluginRecord:
        self._check_free(record.name, candidate)
        record.candidate = candidate
        self.records[record.name] = record
        return record

    def _impls_of(self, hook_object: object, plugin_name: str) -> dict[str, pluggy.HookImpl]:
        if isinstance(hook_object, Plugin):
            # The class's hook methods are found once per class; only the instance's own
            # attributes are looked at every time.
            found = _CLASS_IMPLS.get(type(hook_object))
            if found is None:
                found = _CLASS_IMPLS[type(hook_object)] = self._class_impls(type(hook_object))
            attrs = [*found, *self._marked(hook_object, vars(hook_object))]
        else:
            attrs = self._marked(hook_object, dir(hook_object))
        impls: dict[str, pluggy.HookImpl] = {}
        for attr, opts in attrs:
            hook_name = opts.get("specname") or attr
            if opts.get("wrapper") or opts.get("hookwrapper"):
                raise PluginValidationError(
                    f"{attr} is a hook wrapper; jaf hooks take plain implementations",
                    plugin=plugin_name,
                    hint="drop wrapper=True / hookwrapper=True",
                )
            impls[hook_name] = pluggy.HookImpl(
                hook_object, plugin_name, getattr(hook_object, attr), opts
            )
        return impls

    def _class_impls(self, cls: type[Plugin]) -> list[tuple[str, pluggy.HookimplOpts]]:
        sample = object.__new__(cls)  # attributes of the class, no instance state needed
        return [
            (attr, opts)
            for attr, opts in self._marked(sample, dir(cls))
            if getattr(cls, attr, None) not in NO_OP_HOOKS
        ]

    def _marked(
        self, hook_object: object, names: Iterable[str]
    ) -> list[tuple[str, pluggy.HookimplOpts]]:
        found = []
        for attr in names:
            opts = self.pluggy.parse_hookimpl_opts(hook_object, attr)
            if opts is not None:
                found.append((attr, opts))
        return found

    def active_impls(self, hook: str) -> list[pluggy.HookImpl]:
        """Implementations of a broadcast hook by ACTIVE plugins, in pluggy's order."""
        caller = getattr(self.pluggy.hook, hook)
        return [
            impl
            for impl in caller.get_hookimpls()
            if (rec := self.records.get(impl.plugin_name)) is not None
            and rec.status is PluginStatus.ACTIVE
        ]

    # -- what active plugins offer ----------------------------------------------------------

    def publish(self, record: PluginRecord, tools: Iterable[Tool], agents: Iterable[Agent]) -> None:
        record.tools, record.agents = list(tools), list(agents)
        for tool in record.tools:
            tool.plugin = tool.plugin or record.name
            self._tools.setdefault(tool.name, []).append(tool)
        for agent in record.agents:
            agent.plugin = agent.plugin or record.name
            self._agents.setdefault(agent.name, []).append(agent)
        if record.plugin is not None:
            for event_name, handler in marked_handlers(record.plugin):
                record.plugin.register_event_handler(event_name, handler)

    def withdraw(self, record: PluginRecord) -> None:
        for tool in record.tools:
            _remove(self._tools, tool.name, tool)
        for agent in record.agents:
            _remove(self._agents, agent.name, agent)
        record.tools, record.agents = [], []
        if record.plugin is not None:
            record.plugin._event_handlers.clear()

    def tool(self, name: str) -> Tool | None:
        return _lookup(self._tools, name, "tool")

    def agent(self, name: str) -> Agent | None:
        return _lookup(self._agents, name, "agent")

    def tools(self) -> list[Tool]:
        return [tool for tools in self._tools.values() for tool in tools]

    def agents(self) -> list[Agent]:
        return [agent for agents in self._agents.values() for agent in agents]


def _parse_version(value: str, plugin: str, distribution: str | None) -> Version:
    try:
        return Version(value)
    except InvalidVersion:
        raise PluginValidationError(
            f"metadata.version {value!r} is not a PEP 440 version",
            plugin=plugin,
            distribution=distribution,
            hint="use a version such as '1.0.0' or '2.1rc1'",
        ) from None


def _remove(index: dict[str, list[_Offered]], key: str, item: _Offered) -> None:
    items = index.get(key, [])
    if item in items:
        items.remove(item)
    if not items:
        index.pop(key, None)


def _lookup(index: dict[str, list[_Offered]], name: str, kind: str) -> _Offered | None:
    """``name`` or ``plugin:name``; a bare name offered by two plugins is an error."""
    owner, qualified, bare = name.rpartition(":")
    if qualified:
        return next((item for item in index.get(bare, []) if item.plugin == owner), None)
    items = index.get(name)
    if not items:
        return None
    if len(items) > 1:
        owners = sorted(str(item.plugin) for item in items)
        raise ToolConflictError(
            f"{kind} {name!r} is offered by plugins {', '.join(map(repr, owners))}",
            hint=f"ask for it by qualified name, e.g. {owners[0]}:{name}",
        )
    return items[0]
