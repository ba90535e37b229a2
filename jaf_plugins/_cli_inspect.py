"""What the ``jaf-plugins`` command shows, as plain data (dicts ready for ``--json``):
plugin rows, one plugin's details, the problems ``check`` finds, the dependency graph.

Built on the manager's internals (records, the resolver's plan, settings layers); the
README's CLI section documents every field.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pydantic
from pydantic_core import PydanticUndefined

from . import _discovery, _resolve
from ._cli_host import cli_hint
from ._errors import (
    DependencyCycleError,
    DependencyFailedError,
    DependencyVersionError,
    DuplicatePluginError,
    JafPluginsError,
    LifecycleError,
    MissingDependencyError,
    PluginLoadError,
    PluginTimeoutError,
    PluginValidationError,
    SettingsError,
    ToolConflictError,
)
from ._manager import PluginManager
from ._plugin import ModulePlugin, PluginStatus
from ._registry import BUILTIN_SOURCE, PluginRecord
from ._settings import _is_secret, load_plugin_settings, plugin_env_prefix

DISCOVERED = "discovered"
"""Status of a plugin found (entry point or file) but not imported: ``list`` without
``--load``."""


# -- list ---------------------------------------------------------------------------------------


def candidate_row(candidate: _discovery.Candidate, note: str | None) -> dict[str, Any]:
    """A plugin known only from its entry point or file: nothing of its code is known."""
    return {
        "name": candidate.name,
        "version": candidate.dist_version,
        "description": candidate.summary,
        "distribution": candidate.distribution,
        "source": candidate.source,
        "target": candidate.target,
        "status": PluginStatus.DISABLED.value if note else DISCOVERED,
        "loaded": False,
        "note": note,
        "error": None,
        "fix": None,
        "dependencies": None,
        "hooks": None,
        "tools": None,
        "agents": None,
        "events": None,
        "kinds": None,
    }


def record_row(rec: PluginRecord) -> dict[str, Any]:
    """What the manager knows of one plugin. Lists are ``None`` when its code was never
    imported (import failed, or disabled), as they are unknown rather than empty."""
    row = rec.info().to_dict()
    row["fix"] = rec.error.hint if rec.error is not None else None
    row["loaded"] = rec.plugin is not None
    if rec.plugin is None:
        row.update(dependencies=None, hooks=None, tools=None, agents=None, events=None, kinds=None)
        return row
    events = event_patterns(rec)
    row["events"] = events
    row["kinds"] = [
        kind
        for kind, present in (
            ("tools", row["tools"]),
            ("agents", row["agents"]),
            ("events", events),
        )
        if present
    ]
    return row


def event_patterns(rec: PluginRecord) -> list[str]:
    """Event names (or ``prefix*`` patterns) the plugin handles; ``*`` for an ``on_event``
    hook, which sees every event."""
    found: list[str] = []
    if rec.plugin is not None:
        found += [event for event, _ in rec.plugin._event_handlers]
    if "on_event" in rec.impls:
        found.append("*")
    return list(dict.fromkeys(found))


def discovered_rows(
    pm: PluginManager, plugins_dirs: Iterable[Path]
) -> tuple[list[dict[str, Any]], list[JafPluginsError]]:
    """Every plugin the manager would load, found WITHOUT importing any: built-ins, then
    directory plugins, then entry points (when autoload is on), in the manager's order.

    Returns the rows and the problems found on the way (a name claimed twice).
    """
    records = pm._registry.records
    rows = [record_row(rec) for rec in records.values()]
    taken: dict[str, str | None] = {name: rec.target for name, rec in records.items()}
    where: dict[str, str] = {name: rec.distribution or rec.source for name, rec in records.items()}
    candidates: list[_discovery.Candidate] = []
    for directory in plugins_dirs:
        candidates += _discovery.directory_candidates(Path(directory))
    if pm.settings.autoload:
        candidates += _discovery.entry_point_candidates()
    problems: list[JafPluginsError] = []
    for candidate in candidates:
        if candidate.name in taken:
            if taken[candidate.name] != candidate.target:
                problems.append(
                    DuplicatePluginError(
                        f"{candidate.target!r} uses the name {candidate.name!r}, "
                        f"already taken by {where[candidate.name]!r}",
                        plugin=candidate.name,
                        distribution=candidate.distribution,
                        hint="uninstall or block one of the two",
                    )
                )
            continue
        taken[candidate.name] = candidate.target
        where[candidate.name] = candidate.distribution or candidate.target
        rows.append(candidate_row(candidate, pm._filtered_out(candidate)))
    return rows, problems


def loaded_rows(pm: PluginManager) -> list[dict[str, Any]]:
    return [record_row(rec) for rec in pm._registry.records.values()]


# -- info -------------------------------------------------------------------------------------


def details(pm: PluginManager, name: str, *, started: bool) -> dict[str, Any]:
    """Everything about one plugin the manager has loaded (``info NAME``)."""
    rec = pm._registry.records[name]
    row = record_row(rec)
    plugin = rec.plugin
    data: dict[str, Any] = {
        "name": rec.name,
        "version": row["version"],
        "description": row["description"],
        "author": plugin.metadata.author if plugin is not None else "",
        "status": row["status"],
        "error": rec.error.message if rec.error is not None else None,
        "fix": cli_hint(rec.error.hint, rec.name) if rec.error is not None else None,
        "note": rec.note,
        "traceback": rec.traceback,
        "source": rec.source,
        "target": rec.target,
        "distribution": rec.distribution,
        "distribution_version": rec.dist_version,
        "location": location_of(rec),
        "loaded": row["loaded"],
        "started": started,
        "hooks": row["hooks"],
        "dependencies": dependency_states(pm, rec),
        "required_by": sorted(
            other.name
            for other in pm._registry.records.values()
            if any(dep.name == rec.name for dep in other.dependencies)
        ),
        "settings": settings_schema(pm, rec),
        "tools": [dict(tool.json_schema) for tool in rec.tools] if started else None,
        "agents": [_agent(agent) for agent in rec.agents] if started else None,
        "events": _handlers(rec) if started else None,
    }
    return data


def location_of(rec: PluginRecord) -> str | None:
    """The file the plugin's code lives in, relative to the working directory when below it."""
    plugin = rec.plugin
    if plugin is None:
        if rec.source == "directory" and rec.target:
            return _shown_path(rec.target)
        return None
    if isinstance(plugin, ModulePlugin):
        file = getattr(plugin.module, "__file__", None)
    else:
        module = sys.modules.get(type(plugin).__module__)
        file = getattr(module, "__file__", None)
    return _shown_path(file) if file else None


def _shown_path(file: str) -> str:
    path = Path(file).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def dependency_states(pm: PluginManager, rec: PluginRecord) -> list[dict[str, Any]]:
    """Each declared dependency: its constraint, what is loaded, and whether it is met."""
    records = pm._registry.records
    graph = _graph_nodes(pm)
    plan_errors = pm._lifecycle.plan().errors
    states = []
    for dep in rec.dependencies:
        target = records.get(dep.name)
        problem = _resolve._check(rec.name, graph[rec.name], dep, graph)
        if (
            problem is None
            and isinstance(plan_errors.get(rec.name), DependencyCycleError)
            and isinstance(target_error := plan_errors.get(dep.name), DependencyCycleError)
        ):
            problem = target_error
        if (
            problem is None
            and target is not None
            and target.status
            in (
                PluginStatus.FAILED,
                PluginStatus.SKIPPED,
                PluginStatus.DISABLED,
            )
        ):
            problem = DependencyFailedError(f"{dep.name!r} is {target.status.value}")
        version = (target.version or target.dist_version) if target is not None else None
        states.append(
            {
                "name": dep.name,
                "constraint": dep.constraint,
                "optional": dep.optional,
                "version": str(version) if version is not None else None,
                "status": target.status.value if target is not None else None,
                "satisfied": problem is None,
                "problem": problem.message if problem is not None else None,
            }
        )
    return states


def _graph_nodes(pm: PluginManager) -> dict[str, _resolve.Node]:
    return {
        name: _resolve.Node(rec.version, rec.dependencies, rec.distribution)
        for name, rec in pm._registry.records.items()
    }


def settings_schema(pm: PluginManager, rec: PluginRecord) -> dict[str, Any] | None:
    """The plugin's settings model: each field, the variable that sets it, and its current
    value and where it comes from (the highest source that sets it). Secret values are never
    included: only whether they are set."""
    plugin = rec.plugin
    if plugin is None:
        return None
    model = plugin.settings_model
    prefix = plugin_env_prefix(rec.name)
    sources = _setting_sources(pm, rec.name, prefix)
    if model is None:
        keys = sorted({key.lower() for values, _ in sources for key in values})
        return {"model": None, "env_prefix": prefix, "fields": [], "keys": keys}
    fields = []
    for field_name, info in model.model_fields.items():
        secret = _is_secret(info.annotation)
        names = {name.lower() for name in (field_name, *_aliases(info))}
        found = next(
            (
                (values[key], origin(key))
                for values, origin in sources
                for key in values
                if key.lower() in names or key.lower().split("__")[0] in names
            ),
            None,
        )
        entry: dict[str, Any] = {
            "name": field_name,
            "type": type_name(info.annotation),
            "required": info.is_required(),
            "default": None if info.is_required() or secret else _default(info),
            "description": info.description,
            "secret": secret,
            "env": prefix + field_name.upper(),
            "set": found is not None,
            "source": found[1] if found is not None else None,
        }
        if not secret:
            entry["value"] = found[0] if found is not None else entry["default"]
        fields.append(entry)
    module = "" if model.__module__.startswith("_") else model.__module__ + "."
    return {"model": module + model.__qualname__, "env_prefix": prefix, "fields": fields}


def _setting_sources(
    pm: PluginManager, plugin: str, prefix: str
) -> list[tuple[dict[str, Any], Callable[[str], str]]]:
    """The plugin's values from the environment, ``.env`` and the TOML file, highest first,
    keyed by field name (``__`` for nested fields), each with how to name its source."""
    files = pm._files

    def prefixed(variables: Mapping[str, str | None]) -> dict[str, Any]:
        return {
            key[len(prefix) :]: value
            for key, value in variables.items()
            if key.upper().startswith(prefix) and len(key) > len(prefix) and value is not None
        }

    dotenv: dict[str, str | None] = {}
    if files.env_file.is_file():
        from dotenv import dotenv_values

        dotenv = dict(dotenv_values(files.env_file))
    toml = files.plugin_layer(plugin)
    return [
        (prefixed(os.environ), lambda key: f"environment variable {prefix}{key.upper()}"),
        (prefixed(dotenv), lambda key: f"{prefix}{key.upper()} in {files.env_file}"),
        (dict(toml.values), toml.origin),
    ]


def _aliases(info: Any) -> list[str]:
    return [a for a in (info.alias, info.validation_alias) if isinstance(a, str)]


def _default(info: Any) -> Any:
    if info.default is not PydanticUndefined:
        default = info.default
    elif info.default_factory is not None:
        try:
            default = info.default_factory()
        except TypeError:
            return "<computed>"
    else:
        return None
    if isinstance(default, pydantic.BaseModel):
        return default.model_dump(mode="json")
    return default if isinstance(default, (str, int, float, bool, list, dict)) else repr(default)


def type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    text = repr(annotation)
    for module in ("typing.", "pydantic.types.", "collections.abc.", "typing_extensions."):
        text = text.replace(module, "")
    return text


def _agent(agent: Any) -> dict[str, Any]:
    return {
        "name": agent.name,
        "tools": [tool.name for tool in agent.tools or []],
        "handoffs": list(agent.handoffs or []),
    }


def _handlers(rec: PluginRecord) -> list[dict[str, str]]:
    handlers = []
    if rec.plugin is not None:
        for event, handler in rec.plugin._event_handlers:
            handlers.append({"event": event, "handler": _callable_name(handler)})
    if "on_event" in rec.impls:
        handlers.append({"event": "*", "handler": "on_event hook"})
    return handlers


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    return str(name) + ("()" if inspect.isroutine(fn) else "")


# -- check ----------------------------------------------------------------------------------


@dataclass
class Problem:
    """One thing ``check`` found wrong, with what to do about it."""

    plugin: str | None
    distribution: str | None
    kind: str
    message: str
    fix: str | None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_KINDS: tuple[tuple[type[JafPluginsError], str], ...] = (
    (DuplicatePluginError, "duplicate name"),
    (PluginLoadError, "load error"),
    (PluginValidationError, "invalid plugin"),
    (SettingsError, "invalid settings"),
    (MissingDependencyError, "missing dependency"),
    (DependencyVersionError, "version mismatch"),
    (DependencyCycleError, "dependency cycle"),
    (DependencyFailedError, "dependency failed"),
    (PluginTimeoutError, "timeout"),
    (LifecycleError, "start failed"),
    (ToolConflictError, "name conflict"),
)


def kind_of(error: JafPluginsError) -> str:
    if isinstance(error, PluginLoadError) and error.message.startswith("importing "):
        return "import error"
    return next((kind for cls, kind in _KINDS if isinstance(error, cls)), "error")


class Findings:
    """Problems, each reported once, in the order found."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._seen: set[tuple[str | None, str]] = set()

    def add(self, error: JafPluginsError, traceback: str | None = None) -> None:
        key = (error.plugin, error.message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.problems.append(
            Problem(
                plugin=error.plugin,
                distribution=error.distribution,
                kind=kind_of(error),
                message=error.message,
                fix=cli_hint(error.hint, error.plugin),
                traceback=traceback,
            )
        )

    def about(self, name: str) -> list[Problem]:
        return [p for p in self.problems if p.plugin == name]


def static_problems(pm: PluginManager, findings: Findings) -> None:
    """What can be known without starting anything: imports, names, the dependency graph,
    settings (validated from their sources), and the dependents these would skip."""
    records = pm._registry.records
    for error in pm.problems:
        findings.add(error)
    bad: dict[str, str] = {}
    for name, rec in records.items():
        if rec.status is PluginStatus.FAILED and rec.error is not None:
            findings.add(rec.error, rec.traceback)
            bad[name] = "failed"
    plan = pm._lifecycle.plan()
    for name, error in plan.errors.items():
        findings.add(error)
        bad[name] = "failed"
    bad.update(settings_problems(pm, findings, (PluginStatus.INACTIVE,)))
    for name in plan.order:
        rec = records[name]
        if name in bad or rec.plugin is None or rec.source == BUILTIN_SOURCE:
            continue
        for dep in plan.requires[name]:
            dep_rec = records[dep]
            state = bad.get(dep) or (
                dep_rec.status.value if dep_rec.status is PluginStatus.DISABLED else None
            )
            if state is None:
                continue
            findings.add(
                DependencyFailedError(
                    f"would be skipped: its dependency {dep!r} is {state}",
                    plugin=name,
                    distribution=rec.distribution,
                    hint=f"fix {dep!r} first (jaf-plugins info {dep})"
                    if state != "disabled"
                    else f"allow {dep!r} (JAF_PLUGINS_LOAD / JAF_PLUGINS_BLOCK)",
                )
            )
            bad[name] = "skipped"
            break


def settings_problems(
    pm: PluginManager, findings: Findings, statuses: Iterable[PluginStatus]
) -> dict[str, str]:
    """Validate, from their sources, the settings of the loaded plugins in ``statuses``
    (what activation would do first); returns the plugins whose settings are invalid."""
    wanted = set(statuses)
    bad = {}
    for name, rec in pm._registry.records.items():
        if rec.plugin is None or rec.source == BUILTIN_SOURCE or rec.status not in wanted:
            continue
        try:
            load_plugin_settings(rec.name, rec.plugin.settings_model, {}, pm._files)
        except JafPluginsError as exc:
            findings.add(exc.about(rec.name, rec.distribution))
            bad[name] = "failed"
    return bad


def started_problems(pm: PluginManager, findings: Findings) -> None:
    """After starting and stopping everything: every plugin that failed or was skipped,
    and the settings of skipped plugins (never validated, as they never started)."""
    for error in pm.problems:
        findings.add(error)
    for rec in pm._registry.records.values():
        if rec.status in (PluginStatus.FAILED, PluginStatus.SKIPPED) and rec.error is not None:
            findings.add(rec.error, rec.traceback)
    settings_problems(pm, findings, (PluginStatus.SKIPPED,))


def name_conflicts(pm: PluginManager, findings: Findings) -> None:
    """Tools (and agents) whose bare name two active plugins offer."""
    for kind, items in (("tool", pm.list_tools()), ("agent", pm.list_agents())):
        owners: dict[str, list[str]] = {}
        for item in items:
            owners.setdefault(item.name, []).append(str(item.plugin))
        for name, plugins in sorted(owners.items()):
            if len(plugins) < 2:
                continue
            names = sorted(plugins)
            findings.add(
                ToolConflictError(
                    f"{kind} {name!r} is offered by plugins {', '.join(map(repr, names))}",
                    plugin=names[0],
                    hint=f"call it by qualified name ({names[0]}:{name}), "
                    f"or block one of the plugins (--block / JAF_PLUGINS_BLOCK)",
                )
            )


def plugin_verdicts(pm: PluginManager, findings: Findings) -> list[dict[str, Any]]:
    """One line per plugin for ``check``: ok, disabled, or its first problem's kind."""
    verdicts = []
    for rec in pm._registry.records.values():
        problems = findings.about(rec.name)
        if problems:
            verdict = problems[0].kind
        elif rec.status is PluginStatus.DISABLED:
            verdict = "disabled"
        else:
            verdict = "ok"
        version = rec.version or rec.dist_version
        verdicts.append(
            {
                "name": rec.name,
                "version": str(version) if version is not None else None,
                "source": rec.source,
                "verdict": verdict,
                "note": rec.note,
            }
        )
    return verdicts


# -- graph ----------------------------------------------------------------------------------


@dataclass
class Edge:
    plugin: str
    dependency: str
    constraint: str
    optional: bool
    state: str
    """``ok``, ``missing``, ``version mismatch``, ``cycle``, or the dependency's status
    (``failed``, ``disabled``...) when it cannot start."""


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]]
    """name → version, status, source; ``missing`` for names nothing provides."""
    edges: list[Edge]
    order: list[str]
    """Plugins that can start, dependencies first (the order activation follows)."""


def dependency_graph(pm: PluginManager) -> Graph:
    records = pm._registry.records
    graph = _graph_nodes(pm)
    plan = pm._lifecycle.plan()
    edges: list[Edge] = []
    for name in plan.order:
        rec = records[name]
        for dep in rec.dependencies:
            problem = _resolve._check(name, graph[name], dep, graph)
            target = records.get(dep.name)
            if isinstance(problem, MissingDependencyError):
                state = "missing"
            elif isinstance(problem, DependencyVersionError):
                state = "version mismatch"
            elif isinstance(problem, DependencyCycleError) or (
                isinstance(plan.errors.get(name), DependencyCycleError)
                and isinstance(plan.errors.get(dep.name), DependencyCycleError)
            ):
                state = "cycle"
            elif target is not None and target.status in (
                PluginStatus.FAILED,
                PluginStatus.DISABLED,
            ):
                state = target.status.value
            else:
                state = "ok"
            edges.append(Edge(name, dep.name, dep.constraint, dep.optional, state))
    referenced = {edge.dependency for edge in edges}
    nodes: dict[str, dict[str, Any]] = {}
    for name in plan.order:
        rec = records[name]
        if rec.source == BUILTIN_SOURCE and name not in referenced:
            continue
        version = rec.version or rec.dist_version
        nodes[name] = {
            "version": str(version) if version is not None else None,
            "status": "failed" if name in plan.errors else rec.status.value,
            "source": rec.source,
        }
    for edge in edges:
        if edge.dependency not in nodes:
            nodes[edge.dependency] = {"version": None, "status": "missing", "source": None}
    startable = _startable_order(pm, plan)
    return Graph(nodes, edges, startable)


def _startable_order(pm: PluginManager, plan: _resolve.Plan) -> list[str]:
    records = pm._registry.records
    out: set[str] = set()
    order = []
    for name in plan.order:
        rec = records[name]
        if rec.source == BUILTIN_SOURCE:
            continue
        if (
            name in plan.errors
            or rec.plugin is None
            or rec.status in (PluginStatus.FAILED, PluginStatus.DISABLED)
            or any(dep in out for dep in plan.requires[name])
        ):
            out.add(name)
            continue
        order.append(name)
    return order
