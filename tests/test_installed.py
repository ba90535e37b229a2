"""Listing installed plugins: nothing imported, and a disk cache that is never stale."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from jaf_plugins import InstalledPlugin, installed_plugins
from jaf_plugins._installed import cache_file as _cache_file

if TYPE_CHECKING:
    from conftest import Site

GROUP = "jaf.plugins"


def cache_file(group: str) -> Path:
    return Path(_cache_file(group))


def cached_rows(path: Path) -> list[tuple[str, ...]]:
    """The plugins a cache file holds; raises if it is not a valid cache."""
    _format, key, rows = marshal.loads(path.read_bytes())
    assert isinstance(key, str) and key
    return list(rows)


def test_listing_imports_no_plugin_code(site: Site) -> None:
    module = site.module("loud", "raise RuntimeError('imported!')\n")
    site.distribution("jaf-test-loud", "2.1.0", {"loud": f"{module}:Plugin"}, summary="Is loud")

    (found,) = [p for p in installed_plugins() if p.name == "loud"]

    assert found == InstalledPlugin("loud", f"{module}:Plugin", "jaf-test-loud", "2.1.0", "Is loud")
    assert module not in sys.modules


def test_a_distribution_installed_or_removed_after_the_cache_is_warm_is_seen(site: Site) -> None:
    first = site.module("first", "")
    site.distribution("jaf-test-first", "1.0", {"first": f"{first}:P"})
    assert "first" in {p.name for p in installed_plugins()}
    assert cache_file(GROUP).is_file()

    second = site.module("second", "")
    site.distribution("jaf-test-second", "1.0", {"second": f"{second}:P"})
    assert {"first", "second"} <= {p.name for p in installed_plugins()}

    for info in site.root.glob("jaf_test_first-*.dist-info"):
        for file in info.iterdir():
            file.unlink()
        info.rmdir()
    names = {p.name for p in installed_plugins()}
    assert "first" not in names and "second" in names


def test_a_reinstall_under_the_same_name_and_version_is_seen(site: Site) -> None:
    module = site.module("same", "")
    site.distribution("jaf-test-same", "1.0", {"same": f"{module}:Old"})
    assert [p.target for p in installed_plugins() if p.name == "same"] == [f"{module}:Old"]

    (info,) = site.root.glob("jaf_test_same-*.dist-info")
    for file in info.iterdir():
        file.unlink()
    info.rmdir()
    site.distribution("jaf-test-same", "1.0", {"same": f"{module}:New"})

    assert [p.target for p in installed_plugins() if p.name == "same"] == [f"{module}:New"]


@pytest.mark.parametrize(
    "garbage", [b"", b"{not marshal", marshal.dumps({"key": 1}), b"\xff\xfe", marshal.dumps([])]
)
def test_a_corrupt_cache_is_ignored_and_rewritten(site: Site, garbage: bytes) -> None:
    module = site.module("sturdy", "")
    site.distribution("jaf-test-sturdy", "1.0", {"sturdy": f"{module}:P"})
    expected = installed_plugins(cache=False)
    path = cache_file(GROUP)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbage)

    assert installed_plugins() == expected
    assert cached_rows(path)  # rewritten, valid again
    assert installed_plugins() == expected  # and now served from it


def test_an_unwritable_cache_folder_only_costs_the_scan(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("JAF_PLUGINS_CACHE_DIR", str(blocker / "cache"))
    module = site.module("homeless", "")
    site.distribution("jaf-test-homeless", "1.0", {"homeless": f"{module}:P"})
    assert "homeless" in {p.name for p in installed_plugins()}


def test_the_cache_can_be_turned_off(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAF_PLUGINS_DISCOVERY_CACHE", "0")
    path = cache_file(GROUP)
    path.unlink(missing_ok=True)
    installed_plugins()
    assert not path.exists()


def test_processes_writing_the_cache_at_once_leave_a_valid_cache(
    site: Site, tmp_path: Path
) -> None:
    for index in range(20):
        module = site.module(f"crowd{index}", "")
        site.distribution(f"jaf-test-crowd{index}", "1.0", {f"crowd{index}": f"{module}:P"})
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import jaf_plugins; "
        "print(len([p for p in jaf_plugins.installed_plugins() if p.name.startswith('crowd')]))"
    )
    env = {**os.environ, "JAF_PLUGINS_CACHE_DIR": str(tmp_path / "shared")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(site.root)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert outputs == ["20"] * 6
    (cache,) = (tmp_path / "shared").glob("entry-points-*.marshal")
    assert len(cached_rows(cache)) >= 20
    assert not list((tmp_path / "shared").glob("*.tmp"))


def test_a_warm_listing_imports_only_what_a_bare_interpreter_has(tmp_path: Path) -> None:
    """The startup promise: ``import jaf_plugins`` and a warm ``installed_plugins()`` load no
    module beyond a bare ``python -c pass`` and jaf_plugins' own two (no pydantic, pluggy,
    anyio, typing or json)."""
    env = {**os.environ, "JAF_PLUGINS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONSTARTUP", None)
    show = "import sys; print(' '.join(sorted(sys.modules)))"
    listing = "import jaf_plugins; jaf_plugins.installed_plugins(); "

    def modules(code: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return set(out.stdout.split())

    modules(listing)  # cold: scans with importlib.metadata and writes the cache
    extra = modules(listing + show) - modules(show)
    assert extra == {"jaf_plugins", "jaf_plugins._version", "jaf_plugins._installed"}
