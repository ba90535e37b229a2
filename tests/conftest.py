from __future__ import annotations

import importlib
import os
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both anyio backends."""
    return str(request.param)


_cache_folder = Path(tempfile.mkdtemp(prefix="jaf-plugins-test-cache-"))


@pytest.fixture(autouse=True)
def _isolated_host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no JAF_PLUGINS_* variables, and entry-point autoload is off unless a test
    turns it on: whatever plugins happen to be installed must not leak into unit tests."""
    for name in list(os.environ):
        if name.upper().startswith("JAF_PLUGINS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "0")
    # The discovery cache stays on (it is what users get) but out of the user's cache folder.
    monkeypatch.setenv("JAF_PLUGINS_CACHE_DIR", str(_cache_folder))


# -- real distributions on sys.path ---------------------------------------------------------


@dataclass
class Site:
    """A folder on ``sys.path`` laid out like site-packages."""

    root: Path
    tag: str
    """Suffix that makes this test's module names unique in ``sys.modules``."""

    def module(self, stem: str, source: str) -> str:
        """Write ``<stem>_<tag>.py``; returns its importable name."""
        name = f"{stem}_{self.tag}"
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    def package(self, stem: str, files: Mapping[str, str]) -> str:
        """Write the package ``<stem>_<tag>/`` with ``files`` (``{"__init__.py": ...}``)."""
        name = f"{stem}_{self.tag}"
        folder = self.root / name
        folder.mkdir()
        for filename, source in files.items():
            (folder / filename).write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    def distribution(
        self, name: str, version: str, entry_points: Mapping[str, str], *, summary: str = ""
    ) -> None:
        """Write ``<name>-<version>.dist-info`` declaring ``entry_points`` in ``jaf.plugins``."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
        )
        lines = ["[jaf.plugins]", *(f"{ep} = {target}" for ep, target in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        top_level = sorted({target.split(":")[0].split(".")[0] for target in entry_points.values()})
        (info / "top_level.txt").write_text("".join(f"{module}\n" for module in top_level))
        importlib.invalidate_caches()


@pytest.fixture
def make_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Site]]:
    """Makes site folders; each new one goes first on ``sys.path``. Afterwards every module
    imported from them is dropped from ``sys.modules``."""
    count = 0

    def make() -> Site:
        nonlocal count
        root = tmp_path / f"site{count}"
        count += 1
        root.mkdir()
        monkeypatch.syspath_prepend(str(root))
        return Site(root, uuid.uuid4().hex[:10])

    yield make
    base = tmp_path.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(base):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def site(make_site: Callable[[], Site]) -> Site:
    return make_site()
