"""Plugin tools and agents inside JAF's own runtime: jaf-py's ``jaf.core.engine.run``.

Skipped when jaf-py is not installed; ``nox -s interop`` installs it (the ``jaf`` extra) and
runs this file. jaf-py is asyncio-based, so these tests run on asyncio only. The model is
scripted, as in jaf-py's own engine tests: a provider whose ``get_completion`` returns the
next canned response and records what the model was shown.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pydantic_core
import pytest

# jaf-py imports litellm, which otherwise fetches a model price list from GitHub on import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
pytest.importorskip("jaf", reason="jaf-py is not installed: pip install 'jaf-plugins[jaf]'")

from jaf.core.engine import run
from jaf.core.tool_results import ToolResponse, tool_result_to_string
from jaf.core.types import Agent as JafAgent
from jaf.core.types import (
    CompletedOutcome,
    ContentRole,
    Message,
    ModelConfig,
    RunConfig,
    RunState,
    create_run_id,
    create_trace_id,
)
from jaf.core.types import Tool as JafToolProtocol

from jaf_plugins import (
    Agent,
    AgentPlugin,
    PluginContext,
    PluginManager,
    PluginMetadata,
    PluginValidationError,
    Tool,
    ToolConflictError,
    ToolDefinitionError,
    ToolPlugin,
    jaf_agent_registry,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """jaf-py's engine is asyncio-based (asyncio.gather, asyncio.wait_for): asyncio only."""
    return "asyncio"


# -- two plugins: one offers tools, the other an agent that uses them ------------------------

CALLS: list[tuple[str, Any]] = []


def _nonzero(value: float) -> float:
    if value == 0:
        raise ValueError("cannot divide by zero")
    return value


@Tool(name="add", description="Add two integers")
def add(a: int, b: int = 0) -> dict[str, int]:
    CALLS.append(("add", (a, b)))
    return {"sum": a + b}


@Tool(name="find_city", description="Look up a city")
async def find_city(name: str) -> dict[str, Any]:
    CALLS.append(("find_city", name))
    return {"name": name, "country": "Schweiz", "aka": ["Zürich", "Zurigo"]}


@Tool(name="divide", description="Divide a by b")
def divide(a: float, b: Annotated[float, pydantic.AfterValidator(_nonzero)]) -> float:
    CALLS.append(("divide", (a, b)))
    return a / b


def _known_code(value: str) -> str:
    if value not in {"EUR", "CHF"}:
        # A custom error whose context holds an exception, as some validators raise them.
        context = {"code": value, "cause": LookupError(value)}
        raise pydantic_core.PydanticCustomError("unknown_code", "unknown code {code}", context)
    return value


@Tool(name="pick", description="Pick a currency")
def pick(code: Annotated[str, pydantic.AfterValidator(_known_code)]) -> str:
    CALLS.append(("pick", code))
    return code


@Tool(name="explode", description="Always fails")
async def explode(reason: str) -> str:
    CALLS.append(("explode", reason))
    raise RuntimeError(f"boom: {reason}")


@Tool(name="check", description="Returns a jaf-py ToolResult")
def check(ok: bool) -> Any:
    CALLS.append(("check", ok))
    if ok:
        return ToolResponse.success({"checked": True})
    return ToolResponse.validation_error("not ok", {"field": "ok"})


class CalcPlugin(ToolPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.metadata = PluginMetadata(name="calc", version="1.0.0")

    def get_tools(self) -> list[Tool]:
        return [add, find_city, divide, pick, explode, check]


class AssistantPlugin(AgentPlugin):
    """Offers an agent whose tools come from another plugin, through the host."""

    def __init__(self, name: str = "assistant", agent_name: str = "assistant") -> None:
        super().__init__()
        self.metadata = PluginMetadata(name=name, version="1.0.0", dependencies=["calc", "tools"])
        self.agent_name = agent_name
        self.tools: list[Tool] = []

    async def initialize(self, context: PluginContext) -> bool:
        registry = context.get_dependency("tools")
        names = ["add", "find_city", "divide", "pick", "explode", "check"]
        self.tools = [registry.get_tool(f"calc:{name}") for name in names]  # type: ignore[attr-defined]
        return all(self.tools)

    def get_agents(self) -> list[Agent]:
        def instructions(state: Any) -> str:
            return f"You are {self.agent_name}. Use the calc tools; {len(state.messages)} so far."

        return [
            Agent(
                name=self.agent_name,
                instructions=instructions,
                tools=self.tools,
                model_config={"name": "scripted-model", "temperature": 0.0},
            )
        ]


@pytest.fixture
async def pm() -> AsyncIterator[PluginManager]:
    CALLS.clear()
    manager = PluginManager(autoload=False)
    await manager.load_plugin("assistant", AssistantPlugin())
    await manager.load_plugin("calc", CalcPlugin())
    async with manager:
        yield manager


# -- a scripted model, as in jaf-py's engine tests ---------------------------------------------


@dataclass
class Seen:
    """What the model was shown on one call."""

    agent: str
    instructions: str
    tools: dict[str, dict[str, Any]]
    messages: list[Message]


class ScriptedModel:
    """jaf-py ``ModelProvider``: each ``get_completion`` returns the next scripted response."""

    def __init__(self, *responses: dict[str, Any]) -> None:
        self.responses = list(responses)
        self.seen: list[Seen] = []

    async def get_completion(self, state: Any, agent: Any, config: Any) -> dict[str, Any]:
        # What jaf-py's real providers send: the instructions as the system message, and per
        # tool its name, description and parameters.model_json_schema().
        self.seen.append(
            Seen(
                agent=agent.name,
                instructions=agent.instructions(state),
                tools={
                    tool.schema.name: {
                        "description": tool.schema.description,
                        "parameters": tool.schema.parameters.model_json_schema(),
                    }
                    for tool in agent.tools or []
                },
                messages=list(state.messages),
            )
        )
        return self.responses.pop(0)


def tool_calls(*calls: tuple[str, str]) -> dict[str, Any]:
    """A model response calling tools: (name, JSON arguments) pairs."""
    return {
        "message": {
            "content": "",
            "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(calls)
            ],
        }
    }


def answer(text: str) -> dict[str, Any]:
    return {"message": {"content": text, "tool_calls": None}}


async def run_agent(
    registry: dict[str, Any], agent: str, model: ScriptedModel, text: str = "Hi"
) -> Any:
    state = RunState(
        run_id=create_run_id("run-1"),
        trace_id=create_trace_id("trace-1"),
        messages=[Message(role=ContentRole.USER, content=text)],
        current_agent_name=agent,
        context={"user": "ada"},
        turn_count=0,
    )
    config = RunConfig(agent_registry=registry, model_provider=model, max_turns=5)
    return await run(state, config)


def tool_messages(seen: Seen) -> dict[str, dict[str, Any]]:
    """The tool messages the model got, by tool call id, JSON-decoded."""
    return {
        str(m.tool_call_id): json.loads(str(m.content))
        for m in seen.messages
        if m.role == ContentRole.TOOL
    }


# -- the checks of issue 8 ---------------------------------------------------------------------


async def test_an_agent_calls_a_plugin_tool_and_gets_its_result_back(pm: PluginManager) -> None:
    registry = jaf_agent_registry(pm)
    model = ScriptedModel(tool_calls(("add", '{"a": 2, "b": 3}')), answer("2 + 3 = 5"))

    result = await run_agent(registry, "assistant", model, "What is 2 + 3?")

    assert isinstance(result.outcome, CompletedOutcome)
    assert result.outcome.output == "2 + 3 = 5"
    assert CALLS == [("add", (2, 3))]  # the plugin's function really ran
    first, second = model.seen
    # The model saw the plugin agent's instructions and the plugin tools' schemas.
    assert first.agent == "assistant"
    assert first.instructions == "You are assistant. Use the calc tools; 1 so far."
    assert first.tools["add"]["description"] == "Add two integers"
    assert first.tools["add"]["parameters"]["properties"] == {
        "a": {"title": "A", "type": "integer"},
        "b": {"default": 0, "title": "B", "type": "integer"},
    }
    assert first.tools["add"]["parameters"]["required"] == ["a"]
    # Its second call got the tool's result as the tool message of that call.
    tool_message = second.messages[-1]
    assert tool_message.role == ContentRole.TOOL
    assert tool_message.tool_call_id == "call_0"
    assert json.loads(str(tool_message.content)) == {
        "hitl_status": "executed",
        "result": '{"sum": 5}',
        "tool_name": "add",
        "message": "Tool executed successfully.",
    }
    roles = [m.role for m in result.final_state.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_a_sync_and_an_async_tool_in_one_turn(pm: PluginManager) -> None:
    model = ScriptedModel(
        tool_calls(("add", '{"a": 40, "b": 2}'), ("find_city", '{"name": "Zürich"}')),
        answer("done"),
    )
    result = await run_agent(jaf_agent_registry(pm), "assistant", model)

    assert isinstance(result.outcome, CompletedOutcome)
    assert sorted(CALLS) == [("add", (40, 2)), ("find_city", "Zürich")]
    messages = tool_messages(model.seen[1])
    assert json.loads(messages["call_0"]["result"]) == {"sum": 42}
    city = {"name": "Zürich", "country": "Schweiz", "aka": ["Zürich", "Zurigo"]}
    # A dict result is serialized exactly as jaf-py serializes a ToolResult's data.
    assert messages["call_1"]["result"] == tool_result_to_string(ToolResponse.success(city))
    assert "Zürich" in messages["call_1"]["result"]  # not \u00fc-escaped


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("add", '{"a": "two"}', ["a"]),  # wrong type
        ("add", '{"b": 1}', ["a"]),  # missing
        ("add", '{"a": 1, "c": 2}', ["c"]),  # unknown
        ("add", "not json", []),  # not even JSON
        ("divide", '{"a": 1, "b": 0}', ["b"]),  # a validator raising ValueError
        ("pick", '{"code": "XYZ"}', ["code"]),  # ...or a custom error holding an exception
    ],
)
async def test_invalid_arguments_give_jafs_validation_error_message(
    pm: PluginManager, tool: str, arguments: str, field: list[str]
) -> None:
    model = ScriptedModel(tool_calls((tool, arguments)), answer("sorry"))
    result = await run_agent(jaf_agent_registry(pm), "assistant", model)

    assert isinstance(result.outcome, CompletedOutcome)  # the run went on
    assert CALLS == []  # the tool did not run
    message = tool_messages(model.seen[1])["call_0"]
    assert message["hitl_status"] == "validation_error"
    assert message["tool_name"] == tool
    assert message["message"].startswith(f"Invalid arguments for {tool}: ")
    assert [error["loc"] for error in message["validation_errors"]] == [field]


async def test_a_validator_error_reads_as_pydantic_wrote_it(pm: PluginManager) -> None:
    model = ScriptedModel(
        tool_calls(("divide", '{"a": 1, "b": 0}'), ("pick", '{"code": "XYZ"}')), answer("sorry")
    )
    await run_agent(jaf_agent_registry(pm), "assistant", model)

    messages = tool_messages(model.seen[1])
    (error,) = messages["call_0"]["validation_errors"]
    assert error["type"] == "value_error"
    assert error["msg"] == "Value error, cannot divide by zero"
    assert error["ctx"] == {"error": "cannot divide by zero"}
    (error,) = messages["call_1"]["validation_errors"]
    assert (error["type"], error["msg"]) == ("unknown_code", "unknown code XYZ")


async def test_a_failing_tool_gives_jafs_execution_error_message(pm: PluginManager) -> None:
    model = ScriptedModel(tool_calls(("explode", '{"reason": "test"}')), answer("it failed"))
    result = await run_agent(jaf_agent_registry(pm), "assistant", model)

    assert isinstance(result.outcome, CompletedOutcome)
    assert CALLS == [("explode", "test")]
    assert tool_messages(model.seen[1])["call_0"] == {
        "hitl_status": "execution_error",
        "message": "boom: test",
        "tool_name": "explode",
    }


async def test_a_tool_returning_a_jaf_tool_result_is_passed_through(pm: PluginManager) -> None:
    model = ScriptedModel(
        tool_calls(("check", '{"ok": true}'), ("check", '{"ok": false}')), answer("ok")
    )
    await run_agent(jaf_agent_registry(pm), "assistant", model)

    messages = tool_messages(model.seen[1])
    assert messages["call_0"]["result"] == '{"checked": true}'
    failed = json.loads(messages["call_1"]["result"])
    assert (failed["error"], failed["code"], failed["message"]) == (
        "validation_error",
        "INVALID_INPUT",
        "not ok",
    )


# -- agents and tools as jaf-py objects --------------------------------------------------------


async def test_plugin_tools_satisfy_jafs_tool_protocol(pm: PluginManager) -> None:
    for tool in pm.list_tools():
        assert isinstance(tool, JafToolProtocol), tool
        schema = tool.schema
        assert isinstance(schema.parameters, type)
        assert issubclass(schema.parameters, pydantic.BaseModel)
        assert (schema.name, schema.description, schema.timeout) == (
            tool.name,
            tool.description,
            tool.timeout,
        )
    args = add.schema.parameters.model_validate({"a": 1})
    assert await add.execute(args, {"user": "ada"}) == '{"sum": 1}'


async def test_the_registry_holds_jaf_agents_with_instructions_and_tools_intact(
    pm: PluginManager,
) -> None:
    registry = jaf_agent_registry(pm)
    assert list(registry) == ["assistant"]
    agent = registry["assistant"]
    plugin_agent = pm.get_agent("assistant")
    assert plugin_agent is not None and plugin_agent.plugin == "assistant"
    assert isinstance(agent, JafAgent)
    assert agent.name == "assistant"
    assert agent.instructions is plugin_agent.instructions
    assert agent.tools == plugin_agent.tools
    assert [tool.plugin for tool in agent.tools] == ["calc"] * 6  # another plugin's tools
    assert agent.model_config == ModelConfig(name="scripted-model", temperature=0.0)
    assert plugin_agent.to_jaf() == agent


async def test_a_plugin_agent_with_jaf_typed_fields_also_runs_unconverted(
    pm: PluginManager,
) -> None:
    # jaf-py's engine duck-types agents; only a mapping model_config needs ``to_jaf()``.
    plugin_agent = pm.get_agent("assistant")
    assert plugin_agent is not None
    as_is = dataclasses.replace(plugin_agent, model_config=ModelConfig(name="scripted-model"))
    model = ScriptedModel(tool_calls(("add", '{"a": 1, "b": 1}')), answer("2"))
    result = await run_agent({"assistant": as_is}, "assistant", model)

    assert isinstance(result.outcome, CompletedOutcome)
    assert CALLS == [("add", (1, 1))]


async def test_handoff_between_agents_of_the_registry() -> None:
    @Tool(name="transfer", description="Hand the conversation to another agent")
    def transfer(agent: str) -> dict[str, str]:
        return {"handoff_to": agent}

    class Desk(AgentPlugin):
        def __init__(self) -> None:
            super().__init__()
            self.metadata = PluginMetadata(name="desk", version="1.0.0")

        def get_agents(self) -> list[Agent]:
            return [
                Agent(name="triage", instructions="Route.", tools=[transfer], handoffs=["math"])
            ]

    class Math(AgentPlugin):
        def __init__(self) -> None:
            super().__init__()
            self.metadata = PluginMetadata(name="math", version="1.0.0")

        def get_agents(self) -> list[Agent]:
            return [Agent(name="math", instructions="Compute.")]

    manager = PluginManager(autoload=False)
    await manager.load_plugin("desk", Desk())
    await manager.load_plugin("math", Math())
    async with manager:
        model = ScriptedModel(tool_calls(("transfer", '{"agent": "math"}')), answer("4"))
        result = await run_agent(jaf_agent_registry(manager), "triage", model)

    assert isinstance(result.outcome, CompletedOutcome)
    assert result.final_state.current_agent_name == "math"
    assert [(seen.agent, seen.instructions) for seen in model.seen] == [
        ("triage", "Route."),  # a string instruction works too
        ("math", "Compute."),
    ]


async def test_the_registry_is_a_snapshot_of_active_plugins(pm: PluginManager) -> None:
    await pm.deactivate_plugin("assistant")
    assert jaf_agent_registry(pm) == {}


async def test_two_plugins_offering_one_agent_name_is_a_conflict() -> None:
    manager = PluginManager(autoload=False)
    await manager.load_plugin("calc", CalcPlugin())
    await manager.load_plugin("assistant", AssistantPlugin())
    await manager.load_plugin("other", AssistantPlugin(name="other"))
    async with manager:
        with pytest.raises(ToolConflictError, match="'assistant', 'other'") as info:
            jaf_agent_registry(manager)
    assert "pm.get_agent('assistant:assistant').to_jaf()" in str(info.value)  # the fix


def test_to_jaf_rejects_what_jaf_cannot_run() -> None:
    with pytest.raises(ToolDefinitionError, match="not a tool jaf-py can call"):
        Agent(name="a", instructions="x", tools=[len]).to_jaf()  # type: ignore[list-item]
    with pytest.raises(PluginValidationError, match="not a jaf-py ModelConfig"):
        Agent(name="a", instructions="x", model_config={"nmae": "gpt-4o"}).to_jaf()
    with pytest.raises(PluginValidationError, match="instructions must be"):
        Agent(name="a", instructions=42).to_jaf()  # type: ignore[arg-type]


# -- without jaf-py --------------------------------------------------------------------------


def test_to_jaf_without_jaf_py_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jaf.core.types", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install \"jaf-plugins\[jaf\]\""):
        Agent(name="a", instructions="x").to_jaf()


def test_the_core_package_never_imports_jaf_py() -> None:
    code = """if True:
        import asyncio, json, sys
        import jaf_plugins
        from jaf_plugins import Agent, Tool, jaf_agent_registry

        @Tool
        def add(a: int, b: int = 0) -> dict:
            return {"sum": a + b}

        assert json.loads(asyncio.run(add.execute({"a": 1}))) == {"sum": 1}
        Agent(name="a", instructions=lambda state: "x", tools=[add])
        assert not [name for name in sys.modules if name == "jaf" or name.startswith("jaf.")]
    """
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the README's example, as written ------------------------------------------------------


def readme_example() -> str:
    """The first ```python block of the README's "Running inside JAF (jaf-py)" section."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Running inside JAF (jaf-py)") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}  # not "__main__": no real model
    exec(compile(readme_example(), "README.md", "exec", dont_inherit=True), namespace)

    model = ScriptedModel(tool_calls(("add", '{"a": 2, "b": 3}')), answer("2 + 3 = 5"))
    await namespace["main"](model)

    assert capsys.readouterr().out.splitlines()[-1] == "2 + 3 = 5"
    assert model.seen[0].tools["add"]["description"] == "Add two integers"
    assert json.loads(tool_messages(model.seen[1])["call_0"]["result"]) == {"sum": 5}
