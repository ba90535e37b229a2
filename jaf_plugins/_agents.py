"""``Agent``: the agent definition plugins offer, with jaf-py's field names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._tools import Tool


@dataclass
class Agent:
    """An agent: a name, instructions (a function of the run state) and tools.

    Field names and order match jaf-py's ``Agent``.
    """

    name: str
    instructions: Callable[[Any], str]
    tools: list[Tool] | None = None
    output_codec: Any = None
    handoffs: list[str] | None = None
    model_config: Any = None
    advanced_config: Any = None
    plugin: str | None = field(default=None, compare=False)
    """Name of the plugin that offers this agent, set by the manager."""

    def to_jaf(self) -> Any:
        """This agent as a jaf-py ``Agent``, for ``RunConfig(agent_registry=...)``: the same
        name, instructions and tools. Needs jaf-py (``pip install "jaf-plugins[jaf]"``);
        see ``jaf_agent_registry`` for every active agent at once."""
        from ._jaf import to_jaf_agent

        return to_jaf_agent(self)
