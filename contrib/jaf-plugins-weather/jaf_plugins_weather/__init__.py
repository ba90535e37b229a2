"""Weather tools: current conditions and a forecast for a location.

The figures come from a small deterministic climate model keyed on the location, so the
tools answer offline and the same question always gets the same answer.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from pydantic import Field

from jaf_plugins import Tool, ToolPlugin

__version__ = "0.1.0"

CONDITIONS = ("sunny", "cloudy", "rain", "windy", "snow")


def _seed(location: str, day: int = 0) -> int:
    digest = hashlib.sha256(f"{location.strip().lower()}:{day}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _temperature(location: str, day: int = 0) -> int:
    return 40 + _seed(location, day) % 50


def _conditions(location: str, day: int = 0) -> dict[str, object]:
    seed = _seed(location, day)
    return {
        "temperature": _temperature(location, day),
        "condition": CONDITIONS[seed % len(CONDITIONS)],
        "humidity": 20 + seed % 70,
    }


class WeatherToolPlugin(ToolPlugin):
    """Plugin that provides weather-related tools."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata.name = "weather_tools"
        self.metadata.version = __version__
        self.metadata.description = "Weather information tools"

    def get_tools(self) -> list[Tool]:
        return [get_current_weather, get_weather_forecast]


@Tool(name="get_current_weather", description="Get current weather for a location")
def get_current_weather(location: Annotated[str, Field(min_length=1)]) -> dict[str, object]:
    return {"location": location, **_conditions(location)}


@Tool(name="get_weather_forecast", description="Get weather forecast for a location")
def get_weather_forecast(
    location: Annotated[str, Field(min_length=1)],
    days: Annotated[int, Field(ge=1, le=14)] = 5,
) -> dict[str, object]:
    forecast = [
        {
            "day": day,
            "high": _temperature(location, day),
            "low": _temperature(location, day) - 12,
            "condition": _conditions(location, day)["condition"],
        }
        for day in range(days)
    ]
    return {"location": location, "forecast": forecast}
