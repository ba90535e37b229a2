"""Plugin tools and agents inside JAF's own runtime: jaf-py's ``jaf.core.engine.run``.

A plugin ``Tool`` already satisfies jaf-py's ``Tool`` protocol as the engine uses it
(``schema.name``, ``schema.description``, ``schema.parameters`` as a pydantic model class,
``schema.timeout``, ``await execute(validated_args, context)``), so it goes into a jaf-py
agent as it is. This module turns a plugin ``Agent`` into a jaf-py ``Agent``
(``to_jaf_agent``, also ``Agent.to_jaf()``) and builds a ``RunConfig(agent_registry=...)``
from every agent a manager has active (``jaf_agent_registry``).

jaf-py is optional (``pip install "jaf-plugins[jaf]"``) and heavy to import (it brings
litellm, openai, fastapi and more), so nothing here imports it at module level: only the
functions that need it do, when they are called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import PluginValidationError, ToolConflictError, ToolDefinitionError

if TYPE_CHECKING:
    from types import ModuleType

    from jaf.core.types import Agent as JafAgent  # type: ignore[import-not-found, import-untyped, unused-ignore]

    from ._agents import Agent
    from ._manager import PluginManager

INSTALL_HINT = 'pip install "jaf-plugins[jaf]"'


def jaf_agent_registry(manager: PluginManager) -> dict[str, JafAgent]:
    """The ``agent_registry`` of a jaf-py ``RunConfig``: every agent of every ACTIVE plugin.

    Keys are agent names (jaf-py looks agents up by name, for the first turn and for
    handoffs), values jaf-py ``Agent`` objects made by ``agent.to_jaf()``, whose tools are
    the plugins' ``Tool`` objects themselves. An agent may use tools of other plugins (it
    got them through ``context.get_dependency("tools")``).

    The dict is a snapshot: build it again after activating, deactivating or reloading
    plugins. Two active plugins offering an agent of the same name raise
    ``ToolConflictError`` naming both.
    """
    agents = manager.list_agents()
    owners: dict[str, list[str]] = {}
    for agent in agents:
        owners.setdefault(agent.name, []).append(str(agent.plugin))
    clashes = {name: plugins for name, plugins in owners.items() if len(plugins) > 1}
    if clashes:
        name, plugins = sorted(clashes.items())[0]
        raise ToolConflictError(
            f"agent {name!r} is offered by plugins {', '.join(map(repr, sorted(plugins)))}; "
            "a jaf-py agent registry holds one agent per name",
            hint="block one of them, or build the registry yourself: "
            f"{{'{name}': pm.get_agent('{sorted(plugins)[0]}:{name}').to_jaf()}}",
        )
    return {agent.name: to_jaf_agent(agent) for agent in agents}


def to_jaf_agent(agent: Agent) -> JafAgent:
    """``agent`` as a jaf-py ``Agent``: the same name, instructions, tools, output codec,
    handoffs and advanced config.

    ``instructions`` may also be a plain string (wrapped in a function of the run state),
    and ``model_config`` a mapping such as ``{"name": "gpt-4o", "temperature": 0.2}``
    (made a jaf-py ``ModelConfig``), so a plugin can describe its agent without importing
    jaf-py. Tools are passed as they are; anything in ``tools`` jaf-py could not call
    raises ``ToolDefinitionError``.
    """
    jaf_types = _jaf_types()
    instructions = agent.instructions
    if isinstance(instructions, str):
        instructions = _fixed_instructions(instructions)
    elif not callable(instructions):
        raise PluginValidationError(
            f"agent {agent.name!r}: instructions must be a function of the run state or a "
            f"string, got {type(instructions).__name__}",
            plugin=agent.plugin,
        )
    tools = None if agent.tools is None else list(agent.tools)
    for tool in tools or []:
        if not (hasattr(tool, "schema") and callable(getattr(tool, "execute", None))):
            raise ToolDefinitionError(
                f"agent {agent.name!r}: {tool!r} is not a tool jaf-py can call "
                "(it needs .schema and async .execute(args, context))",
                plugin=agent.plugin,
                hint="decorate the function with @Tool",
            )
    model_config = agent.model_config
    if isinstance(model_config, Mapping):
        try:
            model_config = jaf_types.ModelConfig(**model_config)
        except TypeError as exc:
            raise PluginValidationError(
                f"agent {agent.name!r}: model_config {dict(model_config)!r} is not a jaf-py "
                f"ModelConfig ({exc})",
                plugin=agent.plugin,
                hint="use the keys name, temperature, max_tokens, inline_tool_schemas",
            ) from None
    return jaf_types.Agent(
        name=agent.name,
        instructions=instructions,
        tools=tools,
        output_codec=agent.output_codec,
        handoffs=None if agent.handoffs is None else list(agent.handoffs),
        model_config=model_config,
        advanced_config=agent.advanced_config,
    )


def is_jaf_result(value: object) -> bool:
    """Whether ``value`` is a jaf-py ``ToolResult`` or ``MultiModalToolResult``: a tool
    result jaf-py's engine turns into the tool message itself.

    Never imports jaf-py: while it is not imported, no value can be one.
    """
    cls = type(value)
    if not cls.__module__.startswith("jaf."):
        return False
    for module, name in (
        ("jaf.core.tool_results", "ToolResult"),
        ("jaf.core.types", "MultiModalToolResult"),
    ):
        jaf_class = getattr(sys.modules.get(module), name, None)
        if isinstance(jaf_class, type) and isinstance(value, jaf_class):
            return True
    return False


def _fixed_instructions(text: str) -> Callable[[Any], str]:
    def instructions(state: Any) -> str:
        return text

    return instructions


def _jaf_types() -> ModuleType:
    try:
        import jaf.core.types as jaf_types  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ModuleNotFoundError as exc:
        if not (exc.name or "jaf").startswith("jaf"):
            raise  # jaf-py is there but one of its own dependencies is missing
        raise ModuleNotFoundError(
            f"running plugin agents in JAF needs jaf-py, which is not installed: {INSTALL_HINT}",
            name="jaf",
        ) from exc
    module: ModuleType = jaf_types
    return module
