"""Which plugins are installed, without importing any of them, and cached on disk.

A listing of the ``jaf.plugins`` entry points is valid exactly as long as the installed set
is unchanged. Installing, upgrading, reinstalling or removing a distribution removes or adds
a ``.dist-info`` folder, which changes the modification time of the ``sys.path`` folder that
holds it. So the cache key is the Python, the group, and every ``sys.path`` entry with, for
those that hold distributions, the folder's modification time and the name and inode of each
metadata folder (both come with the directory listing: one ``stat`` per folder, not one per
distribution, as stevedore's cache does). Any change, including to ``sys.path`` itself, is a
new key and a full scan. The cache file is
replaced atomically; a corrupt or unreadable one is ignored and an unwritable cache
directory only costs the scan. ``JAF_PLUGINS_DISCOVERY_CACHE=0`` turns it off.

A warm listing is what the startup of a command line pays for, so this module imports
nothing that a bare interpreter has not already imported: no ``typing``, ``pathlib``,
``json`` or ``hashlib`` (together 20-30 ms on a cold start, more than the whole listing).
The cache is ``marshal`` data, whose reader is built in; ``importlib.metadata`` is imported
only on a cold cache.
"""

import marshal
import os
import sys

ENTRY_POINT_GROUP = "jaf.plugins"
CACHE_FORMAT = 2
CACHE_ENV = "JAF_PLUGINS_DISCOVERY_CACHE"
CACHE_DIR_ENV = "JAF_PLUGINS_CACHE_DIR"

_Row = tuple[str, str, "str | None", "str | None", str]


class InstalledPlugin(_Row):
    """An installed plugin as its distribution declares it; nothing of it is imported.

    A named tuple ``(name, target, distribution, version, summary)``, written out because
    ``typing.NamedTuple`` and ``collections.namedtuple`` cost more to import than a warm
    listing takes.
    """

    __slots__ = ()
    _fields = ("name", "target", "distribution", "version", "summary")

    def __new__(
        cls, name: str, target: str, distribution: str | None, version: str | None, summary: str
    ) -> "InstalledPlugin":
        return tuple.__new__(cls, (name, target, distribution, version, summary))

    @property
    def name(self) -> str:
        """The entry point's name: the plugin's name."""
        return self[0]

    @property
    def target(self) -> str:
        """``module:attribute`` the entry point points at."""
        return self[1]

    @property
    def distribution(self) -> str | None:
        return self[2]

    @property
    def version(self) -> str | None:
        """The distribution's version."""
        return self[3]

    @property
    def summary(self) -> str:
        """The distribution's one-line summary."""
        return self[4]

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{field}={value!r}" for field, value in zip(self._fields, self, strict=True)
        )
        return f"InstalledPlugin({fields})"

    def __getnewargs__(self) -> _Row:
        return tuple(self)  # type: ignore[return-value]


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


def cache_dir() -> str:
    """``JAF_PLUGINS_CACHE_DIR``, else the platform's user cache directory."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return explicit
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "jaf-plugins", "Cache")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "jaf-plugins")
    return os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "jaf-plugins"
    )


def cache_file(group: str) -> str:
    # One file per interpreter and group: a new key overwrites it, so stale files never pile up.
    owner = _fnv1a(sys.executable + "\0" + group)
    return os.path.join(cache_dir(), f"entry-points-{owner}.marshal")


def _fnv1a(text: str) -> str:
    """A stable 64-bit hash for a file name (``hash()`` changes per process; hashlib is slow
    to import). Collisions only make two interpreters share a file: the key still decides."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _cache_key(group: str) -> str:
    parts = [sys.version, group]  # the cache's format is checked on its own (``_read``)
    for entry in sys.path:
        parts.append(entry)
        folder = entry or "."
        try:
            with os.scandir(folder) as found:
                metadata = [
                    f"{item.name}\0{item.inode()}"
                    for item in found
                    if item.name.endswith(_METADATA_SUFFIXES)
                ]
            if metadata:
                parts.append(str(os.stat(folder).st_mtime_ns))
                parts.extend(metadata)
        except NotADirectoryError:  # a zip or egg file on sys.path
            parts.append(str(os.stat(entry).st_mtime_ns))
        except OSError:
            parts.append("-")
    return "\n".join(parts)


# Only folders holding distributions count their modification time: other files coming and
# going (a busy working directory on sys.path) must not invalidate the cache.
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def _read(path: str, key: str) -> list[InstalledPlugin] | None:
    try:
        with open(path, "rb") as file:
            version, stored_key, rows = marshal.load(file)
        if version != CACHE_FORMAT or stored_key != key:
            return None
        return [InstalledPlugin(*row) for row in rows]
    except (OSError, ValueError, EOFError, TypeError):
        return None  # missing, corrupt or from another version: scan instead


def _write(path: str, key: str, plugins: list[InstalledPlugin]) -> None:
    document = (CACHE_FORMAT, key, [tuple(plugin) for plugin in plugins])
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as file:
            marshal.dump(document, file)
        os.replace(temporary, path)  # atomic: readers see the old file or the new one
    except OSError:
        try:  # noqa: SIM105 (contextlib costs a few ms to import)
            os.unlink(temporary)
        except OSError:
            pass


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
