"""Finding plugins (entry points, directories) and turning loaded objects into ``Plugin``\\ s.

All entry-point handling lives here. Finding a plugin never imports it: a ``Candidate``
knows its name, distribution and target, and imports only when ``load()`` is called.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ._errors import JafPluginsError, PluginLoadError, PluginValidationError
from ._installed import ENTRY_POINT_GROUP, installed_plugins
from ._markers import PROJECT_NAME
from ._plugin import AgentPlugin, IntegrationPlugin, ModulePlugin, Plugin, ToolPlugin

_BASES = (Plugin, ToolPlugin, AgentPlugin, IntegrationPlugin, ModulePlugin)


@dataclass
class Candidate:
    """A plugin found but not imported yet."""

    name: str
    source: str
    """``entry-point``, ``directory`` or ``explicit``."""
    target: str
    """``module:attr`` of an entry point, or the file or package path."""
    distribution: str | None = None
    dist_version: str | None = None
    summary: str = ""
    load: Callable[[], object] = field(repr=False, default=lambda: None)


def entry_point_candidates(group: str = ENTRY_POINT_GROUP) -> list[Candidate]:
    """Every entry point in ``group``, sorted by name then distribution; nothing imported.

    The listing comes from the discovery cache (see ``_installed``).
    """
    return [
        Candidate(
            name=found.name,
            source="entry-point",
            target=found.target,
            distribution=found.distribution,
            dist_version=found.version,
            summary=found.summary,
            load=functools.partial(_load_entry_point, found.name, found.target, group),
        )
        for found in installed_plugins(group)
    ]


def _load_entry_point(name: str, target: str, group: str) -> object:
    return metadata.EntryPoint(name=name, value=target, group=group).load()


def directory_candidates(directory: Path) -> list[Candidate]:
    """Each ``*.py`` file and package (folder with ``__init__.py``) directly in ``directory``.

    Names starting with ``_`` or ``.`` are skipped, so helpers and caches stay out.
    """
    if not directory.is_dir():
        raise PluginLoadError(
            f"plugin directory {str(directory)!r} does not exist or is not a directory",
            hint="pass the path of a folder holding plugin .py files or packages",
        )
    prefix = "_jaf_dir_" + hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:8]
    candidates = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            stem = path.name
        elif path.suffix == ".py" and path.is_file():
            stem = path.stem
        else:
            continue
        candidates.append(
            Candidate(
                name=stem,
                source="directory",
                target=str(path),
                load=_file_loader(path, f"{prefix}_{stem}"),
            )
        )
    return candidates


def _file_loader(path: Path, module_name: str) -> Callable[[], object]:
    def load() -> object:
        if path.is_dir():
            spec = importlib.util.spec_from_file_location(
                module_name, path / "__init__.py", submodule_search_locations=[str(path)]
            )
        else:
            spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module

    return load


def import_candidate(candidate: Candidate) -> object:
    """Import what the candidate points at; any failure becomes a ``PluginLoadError``."""
    try:
        return candidate.load()
    except Exception as exc:
        raise PluginLoadError(
            f"importing {candidate.target!r} failed: {type(exc).__name__}: {exc}",
            plugin=candidate.name,
            distribution=candidate.distribution,
            hint=_import_hint(candidate, exc),
        ) from exc


_SEE_TRACEBACK = "fix the error in the plugin's code; its traceback is in pm.get_traceback(name)"


def _import_hint(candidate: Candidate, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"install the module {exc.name!r}, or correct the target {candidate.target!r}"
    if isinstance(exc, AttributeError):
        return f"the entry point names an attribute that does not exist: {candidate.target!r}"
    if isinstance(exc, SyntaxError):
        return f"correct the syntax error at line {exc.lineno} of {exc.filename}"
    return _SEE_TRACEBACK


def plugins_from_object(obj: object, candidate: Candidate) -> list[Plugin]:
    """Turn what an entry point or file gave us into plugins.

    Accepted: a ``Plugin`` subclass (built with no arguments), a ``Plugin`` instance, a
    zero-argument factory returning one, or a module. A module counts as one plugin made of
    its ``@hookimpl`` functions, and, for directory files, also yields its ``plugin``/
    ``plugins`` attribute or else the ``Plugin`` subclasses it defines (leaf classes only).
    """
    if isinstance(obj, types.ModuleType):
        return _plugins_from_module(obj, candidate)
    return [_one_plugin(obj, candidate)]


def _one_plugin(obj: object, candidate: Candidate, *, depth: int = 0) -> Plugin:
    if isinstance(obj, Plugin):
        return obj
    if isinstance(obj, type) and issubclass(obj, Plugin):
        return _construct(obj, candidate)
    if callable(obj) and not isinstance(obj, type) and depth == 0:
        return _one_plugin(_construct(obj, candidate), candidate, depth=1)
    raise PluginValidationError(
        f"{candidate.target!r} is not a plugin: got {_describe(obj)}",
        plugin=candidate.name,
        distribution=candidate.distribution,
        hint="point the entry point at a Plugin subclass, a Plugin instance, a zero-argument "
        "factory returning one, or a module with @jaf_plugins.hookimpl functions",
    )


def _construct(factory: Callable[[], object], candidate: Candidate) -> Plugin:
    label = getattr(factory, "__qualname__", repr(factory))
    try:
        made = factory()
    except JafPluginsError as exc:
        raise PluginLoadError(
            f"{label}() failed: {exc.message}",
            plugin=candidate.name,
            distribution=candidate.distribution,
            hint=exc.hint,
        ) from exc
    except Exception as exc:
        needs_args = isinstance(exc, TypeError) and "argument" in str(exc)
        raise PluginLoadError(
            f"{label}() failed: {type(exc).__name__}: {exc}",
            plugin=candidate.name,
            distribution=candidate.distribution,
            hint=(
                "give __init__ defaults for every argument, or point the entry point at a "
                "zero-argument factory"
                if needs_args
                else _SEE_TRACEBACK
            ),
        ) from exc
    return made  # type: ignore[return-value]  # checked by the caller


def _plugins_from_module(module: types.ModuleType, candidate: Candidate) -> list[Plugin]:
    plugins: list[Plugin] = []
    if has_hookimpls(module):
        plugins.append(ModulePlugin(module, candidate.name))
    if candidate.source == "directory":
        declared = getattr(module, "plugins", None) or getattr(module, "plugin", None)
        if declared is not None:
            items = declared if isinstance(declared, (list, tuple)) else [declared]
            plugins.extend(_one_plugin(item, candidate) for item in items)
        else:
            plugins.extend(_construct(cls, candidate) for cls in _leaf_plugin_classes(module))
    if not plugins:
        raise PluginValidationError(
            f"module {module.__name__!r} defines no plugin",
            plugin=candidate.name,
            distribution=candidate.distribution,
            hint="add @jaf_plugins.hookimpl functions, or define a Plugin subclass",
        )
    return plugins


def has_hookimpls(module: types.ModuleType) -> bool:
    marker = PROJECT_NAME + "_impl"
    return any(hasattr(value, marker) for value in vars(module).values())


def _leaf_plugin_classes(module: types.ModuleType) -> Iterable[type[Plugin]]:
    defined = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Plugin)
        and value not in _BASES
        and value.__module__ == module.__name__
    ]
    return [cls for cls in defined if not any(o is not cls and issubclass(o, cls) for o in defined)]


def _describe(obj: object) -> str:
    kind = "class" if isinstance(obj, type) else type(obj).__name__
    return f"{kind} {getattr(obj, '__qualname__', obj)!r}"
