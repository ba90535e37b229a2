from __future__ import annotations

import jaf_plugins_greeter
import pytest
from jaf_plugins_weather import WeatherToolPlugin

from jaf_plugins import PluginManager, PluginStatus
from jaf_plugins.testing import PluginConformance


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_greets_on_signup_after_weather_is_active() -> None:
    pm = PluginManager(autoload=False)
    await pm.load_plugin("greeter", jaf_plugins_greeter)
    await pm.load_plugin("weather_tools", WeatherToolPlugin())
    async with pm:
        assert pm.get_status("greeter") is PluginStatus.ACTIVE
        outcome = await pm.emit_event("user_signup", {"name": "Ada", "city": "Oslo"})
        assert [r.value for r in outcome.results] == [jaf_plugins_greeter.greet("Ada", "Oslo")]
        assert outcome.results[0].value.startswith("Welcome, Ada!")


@pytest.mark.anyio
async def test_without_weather_the_greeter_is_not_started() -> None:
    pm = PluginManager(autoload=False)
    await pm.load_plugin("greeter", jaf_plugins_greeter)
    async with pm:
        assert pm.get_status("greeter") is PluginStatus.FAILED
        assert "weather_tools" in (pm.get_error("greeter") or "")


class TestGreeterConformance(PluginConformance):
    plugin = "greeter"
    dependencies = ("weather_tools",)
