from __future__ import annotations

import pytest

HOST_ENV = ("LOAD", "BLOCK", "AUTOLOAD", "TIMEOUT", "EVENT_TIMEOUT")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on both anyio backends."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _isolated_host_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no JAF_PLUGINS_* variables, and entry-point autoload is off unless a test
    turns it on: whatever plugins happen to be installed must not leak into unit tests."""
    for name in HOST_ENV:
        monkeypatch.delenv(f"JAF_PLUGINS_{name}", raising=False)
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "0")
