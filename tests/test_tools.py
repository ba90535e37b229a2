"""``Tool`` and ``Agent``: calling, schemas, validation and jaf-py compatibility.

This module uses ``from __future__ import annotations`` on purpose: every annotation is a
string, as in most modern plugin code, and tools must still build their schemas from it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
import pytest
from pydantic import Field

from jaf_plugins import (
    Agent,
    Tool,
    ToolDefinitionError,
    ToolError,
    ToolSchema,
    ToolValidationError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

# -- module-level tools (annotations are strings here) ----------------------------------------

FORECAST_CALLS: list[tuple[str, int]] = []


@Tool(name="get_weather_forecast", description="Get weather forecast for a location")
def get_weather_forecast(
    location: str, days: Annotated[int, Field(ge=1, le=14)] = 5
) -> dict[str, Any]:
    FORECAST_CALLS.append((location, days))
    return {"location": location, "forecast": [{"day": i, "high": 75 + i} for i in range(days)]}


@Tool(name="page_numbers", description="Page numbers to fetch")
def page_numbers(count: Annotated[int, Field(ge=1, le=14)], start: int = 1) -> Sequence[int]:
    # ``Sequence`` is imported only for type checkers: the return annotation cannot be resolved
    # at runtime, which must not matter for the parameters' schema.
    return list(range(start, start + count))


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    FORECAST_CALLS.clear()
    yield
    FORECAST_CALLS.clear()


def _properties(tool: Tool) -> dict[str, Any]:
    props: dict[str, Any] = tool.json_schema["parameters"]["properties"]
    return props


# -- calling like the function -------------------------------------------------------------


def test_a_sync_tool_is_callable_with_positional_and_keyword_arguments() -> None:
    assert get_weather_forecast("Paris", 2) == {
        "location": "Paris",
        "forecast": [{"day": 0, "high": 75}, {"day": 1, "high": 76}],
    }
    assert get_weather_forecast(location="Oslo", days=1)["location"] == "Oslo"
    assert get_weather_forecast("Rome")["forecast"][-1] == {"day": 4, "high": 79}
    assert FORECAST_CALLS == [("Paris", 2), ("Oslo", 1), ("Rome", 5)]


@pytest.mark.anyio
async def test_an_async_tool_gives_an_awaitable_result() -> None:
    calls: list[str] = []

    @Tool(name="send_slack_message", description="Send a message to a Slack channel")
    async def send_slack_message(channel: str, message: str) -> dict[str, Any]:
        calls.append(f"{channel}:{message}")
        return {"success": True, "channel": channel}

    assert send_slack_message.is_async
    pending = send_slack_message("#general", message="hi")
    assert calls == []  # nothing runs until awaited
    assert await pending == {"success": True, "channel": "#general"}
    assert await send_slack_message(channel="#ops", message="up") == {
        "success": True,
        "channel": "#ops",
    }
    assert calls == ["#general:hi", "#ops:up"]


def test_direct_construction_wraps_a_function() -> None:
    def add(a: int, b: int = 1) -> int:
        """Add two numbers.

        Longer explanation that is not part of the description.
        """
        return a + b

    tool = Tool(add)
    assert tool(2) == 3
    assert tool(2, b=5) == 7
    assert tool.func is add
    assert tool.name == "add"
    assert tool.description == "Add two numbers."
    named = Tool(add, name="plus", description="Sum", timeout=2.5)
    assert (named.name, named.description, named.schema.timeout) == ("plus", "Sum", 2.5)


def test_name_and_description_default_from_the_function_and_can_be_reassigned() -> None:
    @Tool()
    def lookup_order(order_id: str) -> str:
        """Find an order by id.

        Details follow here.
        """
        return order_id

    @Tool()
    def undocumented(x: int) -> int:
        return x

    assert lookup_order.name == "lookup_order"
    assert lookup_order.description == "Find an order by id."
    assert undocumented.description == ""

    # The spec's isolation example renames tools into a namespace.
    lookup_order.name = "plugin_orders_" + lookup_order.name
    lookup_order.description = "Namespaced lookup"
    assert lookup_order.name == "plugin_orders_lookup_order"
    assert lookup_order.schema.name == "plugin_orders_lookup_order"
    assert lookup_order.json_schema["name"] == "plugin_orders_lookup_order"
    assert lookup_order.json_schema["description"] == "Namespaced lookup"
    assert lookup_order("A-1") == "A-1"
    with pytest.raises(ToolValidationError, match="plugin_orders_lookup_order"):
        lookup_order()


def test_positional_only_parameters_work() -> None:
    @Tool(name="scale")
    def scale(value: float, /, factor: float = 2.0, *, offset: float = 0.0) -> float:
        return value * factor + offset

    assert scale(3) == 6.0
    assert scale(3, 3) == 9.0
    assert scale(3, factor=10, offset=1) == 31.0
    with pytest.raises(ToolValidationError, match="'scale'"):
        scale(value=3)


# -- schema ------------------------------------------------------------------------------------


def test_schema_has_jaf_py_tool_schema_fields() -> None:
    schema = get_weather_forecast.schema
    assert isinstance(schema, ToolSchema)
    assert [f.name for f in dataclasses.fields(ToolSchema)] == [
        "name",
        "description",
        "parameters",
        "timeout",
    ]
    assert schema.name == "get_weather_forecast"
    assert schema.description == "Get weather forecast for a location"
    assert isinstance(schema.parameters, type)
    assert issubclass(schema.parameters, pydantic.BaseModel)
    assert set(schema.parameters.model_fields) == {"location", "days"}
    assert schema.timeout is None
    assert Tool(lambda x: x, name="slow", timeout=7).schema.timeout == 7


def test_json_schema_is_an_openai_style_function_schema() -> None:
    spec = get_weather_forecast.json_schema
    assert spec["name"] == "get_weather_forecast"
    assert spec["description"] == "Get weather forecast for a location"
    params = spec["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["location"]
    assert params["properties"]["location"]["type"] == "string"
    days = params["properties"]["days"]
    assert days["type"] == "integer"
    assert days["default"] == 5
    assert days["minimum"] == 1
    assert days["maximum"] == 14
    json.dumps(spec)  # serialisable as is


def test_json_schema_types_defaults_and_optionals() -> None:
    @Tool(name="send_email", description="Send an email message")
    def send_email(
        to: str,
        subject: str,
        body: str,
        cc: str | None = None,
        priority: int = 3,
        urgent: bool = False,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        return {}

    params = send_email.json_schema["parameters"]
    assert params["required"] == ["to", "subject", "body"]
    props = params["properties"]
    assert props["priority"] == {**props["priority"], "type": "integer", "default": 3}
    assert props["urgent"]["type"] == "boolean"
    assert props["urgent"]["default"] is False
    assert {"type": "string"} in props["cc"]["anyOf"]
    assert {"type": "null"} in props["cc"]["anyOf"]
    assert props["cc"]["default"] is None
    assert {"type": "array", "items": {"type": "string"}} in props["tags"]["anyOf"]


def test_an_unresolvable_return_annotation_does_not_break_the_parameter_schema() -> None:
    # Under ``from __future__ import annotations`` a return type imported only for type
    # checkers (or defined later in the module) is common; it says nothing about parameters.
    props = _properties(page_numbers)
    assert props["count"]["minimum"] == 1
    assert props["count"]["maximum"] == 14
    assert page_numbers(3, start=2) == [2, 3, 4]
    with pytest.raises(ToolValidationError, match="count"):
        page_numbers(15)


# -- validation before the call ------------------------------------------------------------------


def test_bad_arguments_are_rejected_before_the_body_runs() -> None:
    with pytest.raises(ToolValidationError) as info:
        get_weather_forecast("Paris", days=20)
    message = str(info.value)
    assert "get_weather_forecast" in message
    assert "days" in message
    assert "20" in message
    assert FORECAST_CALLS == []

    with pytest.raises(ToolValidationError) as info:
        get_weather_forecast("Paris", days="several")
    assert "days" in str(info.value)
    assert "several" in str(info.value)
    assert FORECAST_CALLS == []
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ToolError)


@pytest.mark.anyio
async def test_an_async_tool_validates_before_its_body_runs() -> None:
    calls: list[int] = []

    @Tool(name="book_room", description="Book a room")
    async def book_room(room: int, nights: Annotated[int, Field(ge=1)] = 1) -> str:
        calls.append(room)
        return "booked"

    with pytest.raises(ToolValidationError) as info:
        await book_room(101, nights=0)
    assert "book_room" in str(info.value)
    assert "nights" in str(info.value)
    assert "0" in str(info.value)
    with pytest.raises(ToolValidationError, match="'room'"):
        await book_room("penthouse")
    assert calls == []
    assert await book_room("101") == "booked"  # lax coercion of a numeric string
    assert calls == [101]


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((), {}, "location"),
        (("Paris",), {"dayz": 3}, "dayz"),
        (("Paris", 3, "extra"), {}, "positional"),
        (("Paris",), {"location": "Oslo"}, "location"),
    ],
    ids=["missing", "unexpected-kwarg", "too-many-positional", "twice"],
)
def test_call_shape_errors_are_tool_validation_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ToolValidationError) as info:
        get_weather_forecast(*args, **kwargs)
    assert "get_weather_forecast" in str(info.value)
    assert fragment in str(info.value)
    assert FORECAST_CALLS == []


def test_validate_returns_the_parameters_model() -> None:
    model = get_weather_forecast.validate({"location": "Lima", "days": "3"})
    assert isinstance(model, get_weather_forecast.schema.parameters)
    assert model.model_dump() == {"location": "Lima", "days": 3}


# -- execute (jaf-py's Tool protocol) ------------------------------------------------------------


@pytest.mark.anyio
async def test_execute_accepts_a_dict_or_a_parameters_instance() -> None:
    result = await get_weather_forecast.execute({"location": "Paris", "days": 1}, None)
    assert isinstance(result, str)
    assert json.loads(result) == {"location": "Paris", "forecast": [{"day": 0, "high": 75}]}

    args = get_weather_forecast.schema.parameters(location="Oslo", days=2)
    result = await get_weather_forecast.execute(args, {"user": "u1"})
    assert json.loads(result)["location"] == "Oslo"
    assert FORECAST_CALLS == [("Paris", 1), ("Oslo", 2)]


@pytest.mark.anyio
async def test_execute_returns_strings_unchanged_and_other_values_as_json() -> None:
    @Tool(name="greet")
    async def greet(name: str) -> str:
        return f"Hello, {name}"

    @Tool(name="count")
    def count(n: int) -> list[int]:
        return list(range(n))

    @Tool(name="nothing")
    def nothing() -> None:
        return None

    assert await greet.execute({"name": "Ada"}, None) == "Hello, Ada"
    assert await greet.execute({"name": '{"x": 1}'}, None) == 'Hello, {"x": 1}'
    assert await count.execute({"n": 3}, None) == "[0, 1, 2]"
    assert await nothing.execute({}, None) == "null"


@pytest.mark.anyio
async def test_execute_validates_before_running() -> None:
    with pytest.raises(ToolValidationError) as info:
        await get_weather_forecast.execute({"location": "Paris", "days": 99}, None)
    assert "get_weather_forecast" in str(info.value)
    assert "days" in str(info.value)
    assert "99" in str(info.value)
    with pytest.raises(ToolValidationError, match="extra"):
        await get_weather_forecast.execute({"location": "Paris", "extra": 1}, None)
    with pytest.raises(ToolValidationError, match="location"):
        await get_weather_forecast.execute({}, None)
    assert FORECAST_CALLS == []


@pytest.mark.anyio
async def test_execute_passes_positional_only_parameters() -> None:
    @Tool(name="divide")
    def divide(a: float, b: float, /) -> float:
        return a / b

    assert await divide.execute({"a": 9, "b": 3}, None) == "3.0"
    assert divide(8, 2) == 4.0


# -- definition errors ---------------------------------------------------------------------------


def _with_var_positional(*items: str) -> str:
    return ",".join(items)


def _with_var_keyword(**options: str) -> str:
    return ",".join(options)


def _with_private(query: str, _cache: bool = True) -> str:
    return query


@pytest.mark.parametrize(
    ("fn", "fragment"),
    [
        (_with_var_positional, "items"),
        (_with_var_keyword, "options"),
        (_with_private, "_cache"),
    ],
    ids=["*args", "**kwargs", "_private"],
)
def test_unrepresentable_parameters_fail_at_decoration(
    fn: Callable[..., Any], fragment: str
) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        Tool(name="bad_tool", description="x")(fn)
    assert "bad_tool" in str(info.value)
    assert fragment in str(info.value)
    with pytest.raises(ToolDefinitionError):
        Tool(fn)
    assert isinstance(info.value, TypeError)


def test_decorating_something_that_is_not_a_function_fails() -> None:
    with pytest.raises(ToolDefinitionError):
        Tool(name="x")(42)


@pytest.mark.parametrize("param", ["schema", "json", "copy", "model_config"])
def test_parameter_names_that_collide_with_pydantic_work_or_are_refused_at_decoration(
    param: str,
) -> None:
    # A tool's parameter names are the user's choice (``schema`` is a natural name for a
    # database tool). They must either work, silently, or be refused with a clear
    # ToolDefinitionError; never leak pydantic warnings or give an uncallable tool.
    namespace: dict[str, Any] = {}
    exec(
        f"def query(sql: str, {param}: str = 'public') -> str:\n    return sql + '@' + {param}\n",
        namespace,
    )
    refused: ToolDefinitionError | None = None
    try:
        tool = Tool(namespace["query"])
    except ToolDefinitionError as exc:
        refused = exc
    if refused is not None:
        assert param in str(refused)
        return
    assert tool("select 1") == "select 1@public"
    assert tool("select 1", **{param: "sales"}) == "select 1@sales"
    assert param in _properties(tool)


class _Address(pydantic.BaseModel):
    city: str
    zip_code: str = Field(alias="zipCode")


def test_a_call_by_keyword_passes_the_same_values_as_a_positional_call() -> None:
    # Keyword calls skip Signature.bind and pass the validated model's __dict__; nested
    # models must still arrive as model instances (not model_dump() dicts), coerced as ever.
    received: list[tuple[Any, ...]] = []

    @Tool
    def ship(
        to: _Address, stops: list[_Address], tags: tuple[str, ...] = (), weight: float = 1
    ) -> None:
        received.append((to, stops, tags, weight))

    home = {"city": "Oslo", "zipCode": "0150"}
    ship(to=home, stops=[home, _Address(city="Lima", zipCode="15001")], tags=["a"], weight="2")
    ship(home, [home, _Address(city="Lima", zipCode="15001")], ["a"], "2")
    by_keyword, positional = received
    assert by_keyword == positional
    to, stops, tags, weight = by_keyword
    assert type(to) is _Address and to.zip_code == "0150"
    assert [type(stop) for stop in stops] == [_Address, _Address]
    assert (tags, weight) == (("a",), 2.0)


_CHECKED: list[float] = []


def _nonzero(value: float) -> float:
    _CHECKED.append(value)
    if value == 0:
        raise ValueError("cannot divide by zero")
    return value


def test_a_call_by_keyword_reports_the_same_errors_and_validates_once() -> None:
    @Tool
    def divide(a: float, b: Annotated[float, pydantic.AfterValidator(_nonzero)]) -> float:
        return a / b

    _CHECKED.clear()
    with pytest.raises(ToolValidationError) as by_keyword:
        divide(a=1, b=0)
    assert _CHECKED == [0]
    with pytest.raises(ToolValidationError) as positional:
        divide(1, 0)
    assert str(by_keyword.value) == str(positional.value)
    assert "cannot divide by zero" in str(by_keyword.value)
    # A call-shape error wins over an invalid value, as for a positional call.
    with pytest.raises(ToolValidationError, match="unexpected keyword argument 'c'"):
        divide(a="x", b=0, c=1)


def test_a_parameter_without_default_stays_required_despite_a_default_factory() -> None:
    @Tool
    def tag(labels: Annotated[list[str], Field(default_factory=list)], name: str) -> str:
        return name + ",".join(labels)

    with pytest.raises(ToolValidationError, match="missing a required argument: 'labels'"):
        tag(name="x")
    assert tag(labels=["a"], name="x") == "xa"


# -- the spec's email plugin pattern ---------------------------------------------------------------


@pytest.mark.anyio
async def test_one_tool_awaiting_another_positionally() -> None:
    sent: list[tuple[str, str, str, str | None]] = []

    @Tool(name="send_email", description="Send an email message")
    async def send_email(
        to: str, subject: str, body: str, cc: str | None = None, bcc: str | None = None
    ) -> dict[str, Any]:
        """Send email using SMTP."""
        sent.append((to, subject, body, cc))
        return {"success": True, "recipients": [to] + (cc.split(",") if cc else [])}

    @Tool(name="send_template_email", description="Send email using a template")
    async def send_template_email(
        to: str, template: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Send templated email."""
        rendered_subject = f"Template: {template}"
        rendered_body = f"Template {template} with variables: {variables}"
        result: dict[str, Any] = await send_email(to, rendered_subject, rendered_body)
        return result

    tools = [send_email, send_template_email]
    result = await tools[1](to="a@example.com", template="welcome", variables={"name": "Ada"})
    assert result == {"success": True, "recipients": ["a@example.com"]}
    assert sent == [
        (
            "a@example.com",
            "Template: welcome",
            "Template welcome with variables: {'name': 'Ada'}",
            None,
        )
    ]
    out = await send_template_email.execute(
        {"to": "b@example.com", "template": "bye", "variables": {}}, None
    )
    assert json.loads(out) == {"success": True, "recipients": ["b@example.com"]}
    assert json.loads(
        await send_email.execute({"to": "c@x", "subject": "s", "body": "b", "cc": "d@x,e@x"}, None)
    )["recipients"] == [
        "c@x",
        "d@x",
        "e@x",
    ]
    with pytest.raises(ToolValidationError, match="variables"):
        await send_template_email("a@example.com", "welcome", variables="not a dict")
    assert len(sent) == 3


# -- Agent -----------------------------------------------------------------------------------------


def test_agent_has_jaf_py_field_names_in_order() -> None:
    names = [f.name for f in dataclasses.fields(Agent)]
    assert names[:7] == [
        "name",
        "instructions",
        "tools",
        "output_codec",
        "handoffs",
        "model_config",
        "advanced_config",
    ]


def test_agent_built_like_the_spec() -> None:
    def instructions(state: object) -> str:
        return "You are a helpful customer support agent."

    agent = Agent(
        name="GeneralSupportAgent", instructions=instructions, tools=[get_weather_forecast]
    )
    assert agent.name == "GeneralSupportAgent"
    assert agent.instructions(None) == "You are a helpful customer support agent."
    assert agent.tools == [get_weather_forecast]
    assert agent.output_codec is None
    assert agent.handoffs is None
    assert agent.model_config is None
    assert agent.advanced_config is None
    bare = Agent("BillingAgent", instructions)
    assert bare.tools is None
