from __future__ import annotations

import pytest
from jaf_plugins_weather import WeatherToolPlugin

from jaf_plugins import PluginManager, PluginStatus, ToolValidationError
from jaf_plugins.testing import PluginConformance


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_tools_are_offered_and_answer() -> None:
    async with PluginManager(autoload=False) as pm:
        await pm.load_plugin("weather_tools", WeatherToolPlugin())
        assert await pm.activate_plugin("weather_tools")
        assert pm.get_status("weather_tools") is PluginStatus.ACTIVE
        tool = pm.get_tool("get_weather_forecast")
        assert tool is not None and tool.plugin == "weather_tools"
        result = tool("Paris", days=3)
        assert [day["day"] for day in result["forecast"]] == [0, 1, 2]
        assert tool("Paris", days=3) == result  # deterministic


def test_days_are_validated() -> None:
    tool = WeatherToolPlugin().get_tools()[1]
    with pytest.raises(ToolValidationError, match="days"):
        tool("Paris", days=30)
    with pytest.raises(ToolValidationError, match="location"):
        tool("")


class TestWeatherConformance(PluginConformance):
    plugin = "weather_tools"  # the installed entry point, as users get it
