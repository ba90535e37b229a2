"""Greets new users with the weather in their city.

A module of ``@hookimpl`` functions (pluggy's, llm's and datasette's style): its name comes
from the entry point, its version from the distribution, and ``metadata`` declares that it
needs the ``weather_tools`` plugin, so the host activates that first.
"""

from __future__ import annotations

from typing import Any

from jaf_plugins import PluginContext, PluginEvent, PluginMetadata, Tool, hookimpl

__version__ = "0.1.0"

metadata = PluginMetadata(version=__version__, dependencies=["weather_tools>=0.1", "tools"])

_state: dict[str, Any] = {}


@hookimpl
def initialize(context: PluginContext) -> bool:
    # Looked up through the host rather than imported, so the greeter follows whichever
    # weather plugin is active (and a hot-reloaded one).
    tools = context.get_dependency("tools")
    assert tools is not None
    _state["current_weather"] = tools.get_tool("weather_tools:get_current_weather")  # type: ignore[attr-defined]
    _state["logger"] = context.logger
    context.add_cleanup(_state.clear)
    return True


@Tool(name="greet", description="Greet someone, mentioning the weather in their city")
def greet(name: str, city: str = "Paris") -> str:
    weather = _state["current_weather"](city)
    return f"Welcome, {name}! It is {weather['condition']} in {city} today."


@hookimpl
def get_tools() -> list[Tool]:
    return [greet]


@hookimpl
def on_event(event: PluginEvent) -> str | None:
    if event.name != "user_signup":
        return None
    data = event.data or {}
    message: str = greet(data.get("name", "friend"), data.get("city", "Paris"))
    _state["logger"].info("greeting sent: %s", message)
    return message
