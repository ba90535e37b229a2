"""``Tool``: a function with a validated parameter schema, usable by JAF's runtime."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic
import pydantic_core

from ._errors import ToolDefinitionError, ToolValidationError
from ._jaf import is_jaf_result

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass(frozen=True)
class ToolSchema:
    """Same fields as jaf-py's ``ToolSchema``; ``parameters`` is a pydantic model class."""

    name: str
    description: str
    parameters: type[pydantic.BaseModel]
    timeout: float | None = None


class Tool:
    """A tool an agent can call.

    Use it as a decorator on a sync or async function::

        @Tool(name="get_weather", description="Current weather")
        def get_weather(location: str, units: str = "metric") -> dict: ...

    The result is still callable like the function (positional and keyword arguments; an
    async function gives an awaitable), validates its arguments against a pydantic model
    built from the signature, and satisfies jaf-py's ``Tool`` protocol (``schema``,
    ``async execute(args, context)``). ``name`` and ``description`` default to the
    function's name and the first line of its docstring, and may be reassigned.
    """

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self._name = name
        self._description = description
        self.timeout = timeout
        self.plugin: str | None = None
        """Name of the plugin that offers this tool, set by the manager."""
        self.in_flight = 0
        """Calls of an async tool that have started and not finished."""
        self._func: Callable[..., Any] | None = None
        if func is not None:
            self._bind(func)

    def _bind(self, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise ToolDefinitionError(f"@Tool needs a function, got {func!r}")
        self._func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self._signature = inspect.signature(func)
        self.parameters, self._field_to_param = _parameters_model(func, self._signature, self.name)
        self._positional_only = [
            p.name
            for p in self._signature.parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_ONLY
        ]
        # A call by keyword may then skip ``Signature.bind`` (half the cost of a call): the
        # model accepts exactly the calls bind accepts, and its ``__dict__`` is the keywords.
        # Not so if ``Field(default_factory=...)`` makes a parameter without default optional.
        fields = self.parameters.model_fields
        self._by_keyword = not self._positional_only and all(
            p.name in fields and fields[p.name].is_required() == (p.default is p.empty)
            for p in self._signature.parameters.values()
        )
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    # -- identity ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        return getattr(self._func, "__name__", "tool")

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def description(self) -> str:
        if self._description is not None:
            return self._description
        doc = inspect.getdoc(self._func) if self._func is not None else None
        return doc.strip().splitlines()[0] if doc else ""

    @description.setter
    def description(self, value: str) -> None:
        self._description = value

    @property
    def func(self) -> Callable[..., Any]:
        if self._func is None:
            raise ToolDefinitionError(f"tool {self.name!r} has no function yet")
        return self._func

    # -- jaf-py's Tool protocol ------------------------------------------------------------

    @property
    def schema(self) -> ToolSchema:
        self.func  # noqa: B018 - raises a clear error on an unbound tool
        return ToolSchema(self.name, self.description, self.parameters, self.timeout)

    @property
    def needs_approval(self) -> bool:
        return False

    @property
    def json_schema(self) -> dict[str, Any]:
        """The function-calling schema a model sees: name, description, parameters."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.schema.parameters.model_json_schema(),
        }

    async def execute(self, args: Any, context: Any = None) -> Any:
        """Run the tool with already-parsed arguments (a model instance or a mapping).

        Returns what JAF's engine expects: a string as it is, a jaf-py ``ToolResult`` (or
        ``MultiModalToolResult``) as it is, anything else as JSON, serialized as jaf-py
        serializes a ``ToolResult``'s data (``default=str``, non-ASCII kept).
        """
        model = self._validate_model(args)
        result = self._invoke(model)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, str) or is_jaf_result(result):
            return result
        return json.dumps(result, default=str, ensure_ascii=False)

    # -- calling like the function ---------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._func is None:
            # ``@Tool(name=...)`` without a function: this call is the decoration.
            if len(args) != 1 or kwargs:
                raise ToolDefinitionError(f"@Tool(name={self._name!r}) decorates one function")
            self._bind(args[0])
            return self
        if args or not self._by_keyword:
            return self._invoke(self._validate_model(self._arguments(args, kwargs)))
        try:  # the validator itself: the errors are made JSON-safe here, on failure only
            model = self.parameters.__pydantic_validator__.validate_python(kwargs)
        except pydantic.ValidationError as exc:
            self._arguments(args, kwargs)  # a call-shape error is reported as such
            raise self._invalid(_json_safe(exc)) from None
        result = self._func(**model.__dict__)
        return self._counted(result) if self.is_async else result

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._signature.bind(*args, **kwargs).arguments
        except TypeError as exc:
            raise ToolValidationError(
                f"tool {self.name!r}: {exc}",
                plugin=self.plugin,
                hint=f"call it with the parameters {list(self._signature.parameters)}",
            ) from None

    def validate(self, arguments: Mapping[str, Any]) -> pydantic.BaseModel:
        """Validate keyword arguments (e.g. parsed from a model's JSON) into the model."""
        return self._validate_model(arguments)

    def _validate_model(self, args: Any) -> pydantic.BaseModel:
        if isinstance(args, self.parameters):
            return args
        if isinstance(args, pydantic.BaseModel):
            args = dict(args)
        try:
            return self.parameters.model_validate(args)
        except pydantic.ValidationError as exc:
            raise self._invalid(exc) from None

    def _invalid(self, exc: pydantic.ValidationError) -> ToolValidationError:
        return ToolValidationError(
            f"tool {self.name!r}: invalid arguments: {_describe(exc)}",
            plugin=self.plugin,
            hint="pass arguments matching tool.json_schema['parameters']",
        )

    def _invoke(self, model: pydantic.BaseModel) -> Any:
        values = {param: getattr(model, field) for field, param in self._field_to_param.items()}
        positional = [values.pop(name) for name in self._positional_only]
        result = self.func(*positional, **values)
        return self._counted(result) if self.is_async else result

    async def _counted(self, call: Awaitable[Any]) -> Any:
        # A reload waits for in-flight calls before deactivating the old instance.
        self.in_flight += 1
        try:
            return await call
        finally:
            self.in_flight -= 1

    def __repr__(self) -> str:
        owner = f" from {self.plugin!r}" if self.plugin else ""
        return f"<Tool {self.name!r}{owner}>"


def _describe(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        parts.append(f"field {where!r}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)


def _parameters_model(
    func: Callable[..., Any], signature: inspect.Signature, tool_name: str
) -> tuple[type[pydantic.BaseModel], dict[str, str]]:
    """A model of the parameters, and which model field carries which parameter.

    A parameter whose name a pydantic model reserves (``schema``, ``json``, ``model_config``…)
    gets another field name and keeps its own name as the alias models see.
    """
    fields: dict[str, Any] = {}
    field_to_param: dict[str, str] = {}
    for param in signature.parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: *{param.name} parameters cannot be described to a model",
                hint="give the tool explicit, named parameters",
            )
        if param.name.startswith("_"):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {param.name!r} starts with '_'",
                hint="rename the parameter; models cannot pass private names",
            )
        annotation = _resolve_annotation(func, param, tool_name)
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_name = param.name
        while (
            field_name in _RESERVED
            or field_name in fields
            or (field_name != param.name and field_name in signature.parameters)
        ):
            field_name = "p_" + field_name
        field = pydantic.Field(default, alias=param.name) if field_name != param.name else default
        fields[field_name] = (annotation, field)
        field_to_param[field_name] = param.name
    model_name = "".join(part.capitalize() for part in tool_name.split("_")) + "Args"
    try:
        model = pydantic.create_model(model_name, __base__=_Arguments, **fields)
        model.model_rebuild(raise_errors=True)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: {exc}",
            hint="annotate every parameter with a type pydantic can validate",
        ) from exc
    return model, field_to_param


_RESERVED = frozenset(dir(pydantic.BaseModel))


class _Arguments(pydantic.BaseModel):
    """Base of every tool's parameters model."""

    model_config = pydantic.ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, protected_namespaces=()
    )

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        # jaf-py's engine reports invalid arguments with json.dumps(error.errors()); a
        # validator raising ValueError leaves the exception itself in an error's ``ctx``,
        # which would turn jaf-py's "validation_error" tool message into an unrelated
        # "execution_error" about JSON. Such errors come back with the ``ctx`` as text.
        try:
            return super().model_validate(*args, **kwargs)
        except pydantic.ValidationError as exc:
            safe = _json_safe(exc)
            if safe is exc:
                raise
            raise safe from None


def _json_safe(exc: pydantic.ValidationError) -> pydantic.ValidationError:
    """``exc``, or the same errors with every ``ctx`` value JSON can't encode as text."""
    errors = exc.errors()
    try:
        json.dumps(errors)
        return exc
    except (TypeError, ValueError):
        pass
    details: list[Any] = []
    for error in errors:
        detail: dict[str, Any] = {"loc": error["loc"], "input": error["input"]}
        if error["type"] in _PYDANTIC_ERROR_TYPES:
            detail["type"] = error["type"]
            if "ctx" in error:
                detail["ctx"] = {key: _jsonable(value) for key, value in error["ctx"].items()}
        else:  # a PydanticCustomError: keep its rendered message, drop the ctx
            detail["type"] = pydantic_core.PydanticCustomError(error["type"], error["msg"])
        details.append(detail)
    try:
        return pydantic.ValidationError.from_exception_data(exc.title, details)
    except Exception:  # whatever pydantic cannot rebuild stays as it was
        return exc


_PYDANTIC_ERROR_TYPES = frozenset(typing.get_args(pydantic_core.core_schema.ErrorType))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _resolve_annotation(func: Callable[..., Any], param: inspect.Parameter, tool_name: str) -> Any:
    """One parameter's annotation, resolved on its own (an unresolvable return type or
    sibling must not spoil it), keeping ``Annotated`` constraints."""
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation

    def shim() -> None: ...

    shim.__annotations__ = {param.name: annotation}
    try:
        return typing.get_type_hints(
            shim, globalns=getattr(func, "__globals__", {}), include_extras=True
        )[param.name]
    except Exception as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: cannot resolve the annotation {annotation!r} of parameter "
            f"{param.name!r} ({type(exc).__name__}: {exc})",
            hint="import that type at module level (not only under TYPE_CHECKING)",
        ) from exc
