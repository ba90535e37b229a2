from __future__ import annotations

import os

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both anyio backends."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _isolated_host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no JAF_PLUGINS_* variables, and entry-point autoload is off unless a test
    turns it on: whatever plugins happen to be installed must not leak into unit tests."""
    for name in list(os.environ):
        if name.upper().startswith("JAF_PLUGINS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "0")
