"""Which plugins are installed, without importing any of them, and cached on disk.

A listing of the ``jaf.plugins`` entry points is valid exactly as long as the installed set
is unchanged. Installing, upgrading, reinstalling or removing a distribution adds, rewrites
or removes its ``.dist-info`` folder; so the cache key is the Python, the group, every
``sys.path`` entry, and the name and modification time of every metadata folder in them. Any
change, including to ``sys.path`` itself, is a new key and a full scan. The cache file is
replaced atomically; a corrupt or unreadable one is ignored and an unwritable cache
directory only costs the scan. ``JAF_PLUGINS_DISCOVERY_CACHE=0`` turns it off.

Only the standard library is imported here (``importlib.metadata`` only on a cold cache):
listing installed plugins is what the startup of a command line pays for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

ENTRY_POINT_GROUP = "jaf.plugins"
CACHE_FORMAT = 1
CACHE_ENV = "JAF_PLUGINS_DISCOVERY_CACHE"
CACHE_DIR_ENV = "JAF_PLUGINS_CACHE_DIR"


class InstalledPlugin(NamedTuple):
    """An installed plugin as its distribution declares it; nothing of it is imported."""

    name: str
    """The entry point's name: the plugin's name."""
    target: str
    """``module:attribute`` the entry point points at."""
    distribution: str | None
    version: str | None
    """The distribution's version."""
    summary: str
    """The distribution's one-line summary."""


def installed_plugins(
    group: str = ENTRY_POINT_GROUP, *, cache: bool | None = None
) -> list[InstalledPlugin]:
    """Every entry point in ``group``, sorted by name then distribution.

    ``cache=None`` follows ``JAF_PLUGINS_DISCOVERY_CACHE`` (on unless ``0``).
    """
    if cache is None:
        cache = os.environ.get(CACHE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    if not cache:
        return _scan(group)
    key = _cache_key(group)
    path = cache_file(group)
    cached = _read(path, key)
    if cached is not None:
        return cached
    plugins = _scan(group)
    _write(path, key, plugins)
    return plugins


def cache_dir() -> Path:
    """``JAF_PLUGINS_CACHE_DIR``, else the platform's user cache directory."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "jaf-plugins" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "jaf-plugins"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaf-plugins"


def cache_file(group: str) -> Path:
    # One file per interpreter and group: a new key overwrites it, so stale files never pile up.
    owner = hashlib.sha256(f"{sys.executable}\0{group}".encode()).hexdigest()[:16]
    return cache_dir() / f"entry-points-{owner}.json"


def _cache_key(group: str) -> str:
    parts = [str(CACHE_FORMAT), sys.version, group]
    for entry in sys.path:
        parts.append(entry)
        try:
            with os.scandir(entry or ".") as found:
                parts.extend(
                    f"{item.name}\0{item.stat().st_mtime_ns}"
                    for item in found
                    if item.name.endswith(_METADATA_SUFFIXES)
                )
        except NotADirectoryError:  # a zip or egg file on sys.path
            parts.append(str(os.stat(entry).st_mtime_ns))
        except OSError:
            parts.append("-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# Only metadata folders count, with their own modification times: other files coming and
# going (a busy working directory on sys.path) must not invalidate the cache, and a
# reinstall rewrites the distribution's folder even when its name stays the same.
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def _read(path: Path, key: str) -> list[InstalledPlugin] | None:
    try:
        document = json.loads(path.read_bytes())
        if document["key"] != key:
            return None
        return [InstalledPlugin(*row) for row in document["plugins"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, corrupt or from another version: scan instead


def _write(path: Path, key: str, plugins: list[InstalledPlugin]) -> None:
    document = {"key": key, "plugins": [list(plugin) for plugin in plugins]}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(document))
        os.replace(temporary, path)  # atomic: readers see the old file or the new one
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def _scan(group: str) -> list[InstalledPlugin]:
    from importlib import metadata

    found: dict[tuple[str, str | None, str], InstalledPlugin] = {}
    for ep in metadata.entry_points(group=group):
        name, version, summary = _describe(ep.dist)
        key = (ep.name, name, ep.value)
        if key not in found:  # the same distribution seen twice on sys.path
            found[key] = InstalledPlugin(ep.name, ep.value, name, version, summary)
    return sorted(found.values(), key=lambda p: (p.name, p.distribution or ""))


def _describe(dist: object) -> tuple[str | None, str | None, str]:
    """Name, version and summary from the metadata's first headers.

    ``dist.metadata`` parses the whole file with the email parser; the three headers sit
    at its top, so reading up to them is several times cheaper per distribution.
    """
    if dist is None:
        return None, None, ""
    headers: dict[str, str] = {}
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""  # type: ignore[attr-defined]
    for line in text.splitlines():
        if not line.strip():
            break  # end of the headers
        field, _, value = line.partition(":")
        if field in ("Name", "Version", "Summary") and field not in headers:
            headers[field] = value.strip()
            if len(headers) == 3:
                break
    return headers.get("Name"), headers.get("Version"), headers.get("Summary", "")
