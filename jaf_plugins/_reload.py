"""Hot reload: import a plugin's code again, start the new instance beside the running one,
then swap them in one step; and a file watcher that does it when files change.

A reload is a transaction. Until the swap nothing the running version offers changes, so a
failure anywhere before it (import, construction, validation, settings, initialize,
activate) leaves the old version running. The swap itself has no ``await`` in it, so a
caller sees either the old tools or the new ones. Afterwards the active dependents restart
in dependency order (their contexts now hand out the new instance), calls still running on
the old instance finish, and only then is the old instance deactivated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ._discovery import Candidate, directory_candidates, import_candidate, plugins_from_object
from ._errors import JafPluginsError, ReloadError
from ._plugin import ModulePlugin, Plugin, PluginStatus

if TYPE_CHECKING:
    from ._lifecycle import Lifecycle
    from ._registry import PluginRecord, Registry
    from ._settings import SettingsFiles

_logger = logging.getLogger("jaf.plugins")
_NEVER_PURGED = frozenset({"jaf_plugins", "__main__", "builtins"})


class Reloader:
    def __init__(
        self,
        registry: Registry,
        lifecycle: Lifecycle,
        files: SettingsFiles,
        emit: Callable[[str, Any], Awaitable[Any]],
        load_candidate: Callable[[Candidate], list[str]],
    ) -> None:
        self.registry = registry
        self.lifecycle = lifecycle
        self.files = files
        self._emit = emit
        self._load_candidate = load_candidate
        self._lock = anyio.Lock()
        self._watchers: list[tuple[anyio.CancelScope, anyio.Event]] = []

    # -- reloading --------------------------------------------------------------------------

    async def reload(self, name: str) -> Plugin:
        """Reload ``name``; raises ``ReloadError`` (old version still running) on failure."""
        async with self._lock:
            try:
                plugin = await self._reload(name)
            except JafPluginsError as exc:
                error = exc if isinstance(exc, ReloadError) else _as_reload_error(exc, name)
                _logger.error("%s", error)
                await self.lifecycle.notify("on_plugin_reload_failed", name=name, reason=str(error))
                await self._emit("plugin.reload_failed", {"plugin": name, "reason": str(error)})
                raise error from exc.__cause__
        _logger.info("plugin %r reloaded", name)
        await self.lifecycle.notify("on_plugin_reloaded", name=name, plugin=plugin)
        await self._emit("plugin.reloaded", {"plugin": name})
        return plugin

    async def _reload(self, name: str) -> Plugin:
        old = self.registry.records.get(name)
        if old is None or old.candidate is None or old.source == "builtin":
            raise ReloadError(
                f"there is no loaded plugin {name!r} to reload"
                if old is None
                else "built-in plugins cannot be reloaded",
                plugin=name,
                hint="reload a plugin listed by pm.list_plugins()",
            )
        if old.status is PluginStatus.DISABLED:
            raise ReloadError(
                f"it is disabled: {old.note}",
                plugin=name,
                distribution=old.distribution,
                hint="change the allow/block lists and build a new PluginManager",
            )
        self.files.refresh()  # settings may have changed too
        if old.status is not PluginStatus.ACTIVE:
            return await self._load_again(old)
        new_plugin = self._import_again(old)
        if new_plugin is None:
            return await self._restart_in_place(old)
        new = self.registry.stage(
            new_plugin, dataclasses.replace(old.candidate), bind_name=old.source != "directory"
        )
        self._check_dependents_accept(new)
        old_tools = list(old.tools)
        tools, agents = await self.lifecycle.bring_up(new, {name: new_plugin})
        self.registry.swap(old, new, tools, agents)
        new.set_status(PluginStatus.ACTIVE)
        self.lifecycle.changed()
        await self._restart_dependents(name)
        await self._retire(old, old_tools)
        return new_plugin

    def _import_again(self, rec: PluginRecord) -> Plugin | None:
        """A new instance built from freshly imported code, or ``None`` for a plugin handed
        to ``load_plugin``: that is your code's object, so it is restarted in place."""
        assert rec.candidate is not None and rec.plugin is not None
        candidate = dataclasses.replace(rec.candidate)
        roots = _module_roots(rec)
        if not roots:
            return None
        saved = _purge(roots)
        try:
            plugins = plugins_from_object(import_candidate(candidate), candidate)
        except JafPluginsError:
            _restore(roots, saved)
            raise
        mine = [p for p in plugins if p.metadata.name == rec.name]
        if not mine and len(plugins) == 1:
            mine = plugins  # an entry point's plugin takes the entry point's name when staged
        if not mine:
            _restore(roots, saved)
            raise ReloadError(
                f"its new code no longer defines the plugin {rec.name!r}",
                plugin=rec.name,
                distribution=rec.distribution,
                hint="restore the plugin, or delete its file to unload it",
            )
        return mine[0]

    def _check_dependents_accept(self, new: PluginRecord) -> None:
        for rec in self._active():
            for dep in rec.dependencies:
                if (
                    dep.name == new.name
                    and dep.constraint
                    and new.version is not None
                    and not dep.specifier.contains(new.version, prereleases=True)
                ):
                    raise ReloadError(
                        f"the new version {new.version} does not satisfy {rec.name!r}, which "
                        f"requires {dep.name}{dep.constraint}",
                        plugin=new.name,
                        distribution=new.distribution,
                        hint=f"keep the version within {dep.constraint!r}, or reload "
                        f"{rec.name!r} with a relaxed constraint first",
                    )

    async def _restart_dependents(self, name: str) -> None:
        dependents = self.lifecycle.dependents_of([name]) - {name}
        if dependents:
            await self.lifecycle.stop(dependents)
            await self.lifecycle.start(dependents)

    async def _restart_in_place(self, rec: PluginRecord) -> Plugin:
        group = self.lifecycle.dependents_of([rec.name])
        await self.lifecycle.stop(group)
        await self.lifecycle.start(group)
        return self._started(rec.name)

    async def _load_again(self, rec: PluginRecord) -> Plugin:
        """A plugin that is not running (it failed, was skipped or never started): load its
        code afresh in place of the old record and start it."""
        assert rec.candidate is not None
        candidate = dataclasses.replace(rec.candidate, name=rec.candidate.name)
        roots = _module_roots(rec)
        saved = _purge(roots)
        self.registry.unregister(rec)
        try:
            loaded = self._load_candidate(candidate)
        except JafPluginsError:
            _restore(roots, saved)
            raise
        if rec.name not in loaded:
            raise ReloadError(
                self.registry.records[rec.name].reason or "it did not load"
                if rec.name in self.registry.records
                else "it did not load",
                plugin=rec.name,
                distribution=rec.distribution,
                hint="see pm.get_error(name)",
            )
        await self.lifecycle.start(self.lifecycle.dependents_of([rec.name]) | {rec.name})
        return self._started(rec.name)

    def _started(self, name: str) -> Plugin:
        rec = self.registry.records[name]
        if rec.status is not PluginStatus.ACTIVE:
            raise ReloadError(
                f"it did not start again: {rec.reason}",
                plugin=name,
                distribution=rec.distribution,
                hint="fix the error and reload again",
            )
        assert rec.plugin is not None
        return rec.plugin

    async def _retire(self, old: PluginRecord, old_tools: list[Any]) -> None:
        """Let calls running on the old instance finish (up to the timeout), then stop it."""
        with anyio.move_on_after(self.lifecycle.timeout):
            # Tools keep a plain counter (no event to wait on, so calls stay cheap); polling
            # happens only while draining, once per reload.
            while any(tool.in_flight for tool in old_tools):  # noqa: ASYNC110
                await anyio.sleep(0.005)
        await self.lifecycle.retire(old)

    def _active(self) -> list[PluginRecord]:
        return [self.registry.records[name] for name in self.lifecycle.activation_order]

    async def reload_all(self) -> dict[str, str | None]:
        """Reload every active plugin, dependencies first; name → error (``None`` if fine)."""
        results: dict[str, str | None] = {}
        for name in list(self.lifecycle.activation_order):
            if name in results or self.registry.records[name].source == "builtin":
                continue
            try:
                await self.reload(name)
                results[name] = None
            except ReloadError as exc:
                results[name] = str(exc)
        return results

    # -- watching files ---------------------------------------------------------------------

    def start_watcher(
        self, path: Path, spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
    ) -> None:
        if not path.exists():
            raise ReloadError(
                f"cannot watch {str(path)!r}: it does not exist",
                hint="pass the folder your plugins live in",
            )
        scope, stop, folder = anyio.CancelScope(), anyio.Event(), path.resolve()
        self._watchers.append((scope, stop))
        # Edits made between this call and the moment the OS watcher is set up would be
        # missed; a snapshot taken now lets the watcher catch up on them once running.
        seen = _snapshot(folder)

        async def watch() -> None:
            with scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch, folder, stop, seen)
                    for delay in (0.0, 0.25):  # before and after the OS watcher starts
                        await anyio.sleep(delay)
                        await self._catch_up(folder, seen)

        spawn(watch)

    def stop_watchers(self) -> None:
        for scope, stop in self._watchers:
            stop.set()
            scope.cancel()
        self._watchers.clear()

    async def _watch(self, folder: Path, stop: anyio.Event, seen: dict[Path, int]) -> None:
        from watchfiles import PythonFilter, awatch

        # ``step``: changes are handed over 30 ms after the last one, so an edit touching
        # several files of one plugin reloads it once.
        async for changes in awatch(
            folder, watch_filter=PythonFilter(), debounce=1000, step=30, stop_event=stop
        ):
            paths = {Path(file) for _, file in changes}
            seen.update(_snapshot(folder))
            await self._apply_safely(folder, paths)

    async def _catch_up(self, folder: Path, seen: dict[Path, int]) -> None:
        now = _snapshot(folder)
        changed = {p for p in now.keys() | seen.keys() if now.get(p) != seen.get(p)}
        seen.clear()
        seen.update(now)
        if changed:
            await self._apply_safely(folder, changed)

    async def _apply_safely(self, folder: Path, paths: set[Path]) -> None:
        try:
            await self.apply_changes(folder, paths)
        except Exception:  # the watcher must outlive any one bad batch
            _logger.exception("the plugin file watcher failed to apply changes")

    async def apply_changes(self, folder: Path, changed: Iterable[Path]) -> None:
        """Reload plugins whose files changed, load new plugin files, unload deleted ones."""
        owners = self._owners()
        to_reload: set[str] = set()
        for path in {p.resolve() for p in changed}:
            names = [name for name, root in owners.items() if path == root or root in path.parents]
            gone = [name for name in names if not owners[name].exists()]
            for name in gone:
                await self.unload(name)
            to_reload.update(set(names) - set(gone))
            if not names and folder in path.parents and path.exists():
                await self._load_new(folder, folder / path.relative_to(folder).parts[0])
        order = {name: i for i, name in enumerate(self.lifecycle.activation_order)}
        for name in sorted(to_reload, key=lambda n: (order.get(n, len(order)), n)):
            if name in self.registry.records:
                with contextlib.suppress(ReloadError):  # logged and announced by reload()
                    await self.reload(name)

    async def _load_new(self, folder: Path, top: Path) -> None:
        loaded = [name for c in _candidates_at(folder, top) for name in self._load_candidate(c)]
        if loaded:
            await self.lifecycle.start(loaded)
            _logger.info("loaded %s from new file %s", loaded, top)

    async def unload(self, name: str) -> None:
        """Deactivate ``name`` (dependents first) and forget it."""
        rec = self.registry.records.get(name)
        if rec is None:
            return
        await self.lifecycle.stop(self.lifecycle.dependents_of([name]))
        self.registry.unregister(rec)
        for root in _module_roots(rec):
            _purge([root])
        self.lifecycle.changed()
        _logger.info("plugin %r unloaded", name)

    def _owners(self) -> dict[str, Path]:
        """Each plugin's source root: its file, or its package folder."""
        owners = {}
        for name, rec in self.registry.records.items():
            root = _source_root(rec)
            if root is not None:
                owners[name] = root
        return owners


def _snapshot(folder: Path) -> dict[Path, int]:
    """Modification times of the Python files under ``folder``."""
    return {
        path: path.stat().st_mtime_ns
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts and path.is_file()
    }


def _candidates_at(folder: Path, top: Path) -> list[Candidate]:
    return [c for c in directory_candidates(folder) if Path(c.target).resolve() == top]


# -- modules ------------------------------------------------------------------------------


def _source_root(rec: PluginRecord) -> Path | None:
    if rec.source == "directory" and rec.target:
        return Path(rec.target).resolve()
    module = _plugin_module(rec)
    file = getattr(module, "__file__", None) if module is not None else None
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path


def _plugin_module(rec: PluginRecord) -> types.ModuleType | None:
    plugin = rec.plugin
    if plugin is None:
        return None
    if isinstance(plugin, ModulePlugin):
        return plugin.module
    return sys.modules.get(type(plugin).__module__)


def _module_roots(rec: PluginRecord) -> list[str]:
    """The modules a reload of ``rec`` imports again (each with its submodules)."""
    if rec.source == "entry-point" and rec.target:
        root = rec.target.partition(":")[0].split(".")[0]
    elif rec.source == "directory" and rec.candidate is not None:
        module = _plugin_module(rec)
        root = module.__name__.split(".")[0] if module is not None else ""
        if not root:  # never imported successfully: nothing to purge
            return []
    else:  # explicit: your code's own object, never imported again
        return []
    return [] if root.split(".")[0] in _NEVER_PURGED else [root]


def _purge(roots: list[str]) -> dict[str, types.ModuleType]:
    """Drop ``roots`` and their submodules from ``sys.modules`` (returned, to restore).

    Their cached bytecode is deleted too: an edit within the same second that keeps the
    file's size would otherwise load the stale ``.pyc``.
    """
    saved = {
        name: module
        for name, module in list(sys.modules.items())
        if any(name == root or name.startswith(root + ".") for root in roots)
    }
    for name, module in saved.items():
        del sys.modules[name]
        cached = getattr(module, "__cached__", None)
        if cached:
            with contextlib.suppress(OSError):
                os.remove(cached)
    importlib.invalidate_caches()
    return saved


def _restore(roots: list[str], saved: dict[str, types.ModuleType]) -> None:
    _purge(roots)
    sys.modules.update(saved)


def _as_reload_error(exc: JafPluginsError, name: str) -> ReloadError:
    return ReloadError(
        f"reload failed, the previous version keeps running: {exc.message}",
        plugin=exc.plugin or name,
        distribution=exc.distribution,
        hint=exc.hint,
    )
