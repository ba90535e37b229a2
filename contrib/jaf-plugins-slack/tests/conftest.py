from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_slack import FakeSlack


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    server = FakeSlack.start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """The fake Slack server, with no recorded calls or scripted answers."""
    fake_slack_server.reset()
    yield fake_slack_server
    fake_slack_server.reset()  # releases calls a test left stalled


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
