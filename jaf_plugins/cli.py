"""The ``jaf-plugins`` command: list, info, check, graph, tool, demo and new.

The group's options build the manager every command uses (the same settings as
``PluginManager(...)`` and the ``JAF_PLUGINS_*`` variables). rich is imported only when a
screen is drawn; the screens and their fields are described in the README's CLI section.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from ._cli_host import (
    TRACE_ENV,
    CommandFailed,
    Options,
    install_logging,
    install_tracer,
    load_everything,
    running_host,
)
from ._errors import JafPluginsError, PluginNotFoundError, ToolValidationError
from ._manager import PluginManager
from ._plugin import PluginStatus

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Errors from the host or a plugin become ``error:``/``fix:`` lines and exit status 1
    rather than a traceback (shown with ``--verbose``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            options = ctx.obj if isinstance(ctx.obj, Options) else Options()
            raise CommandFailed(exc, verbose=options.verbose) from exc


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Options).verbose = True


def verbose_option(fn: F) -> F:
    """``-v/--verbose`` on a command too, so ``jaf-plugins info NAME --verbose`` works."""
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_set_verbose,
        help="Show tracebacks and the host's own log records.",
    )(fn)


@click.group(cls=_Group)
@click.version_option(package_name="jaf-plugins")
@click.option(
    "--load",
    metavar="NAMES",
    default=None,
    help="Allowlist: only these plugins (comma-separated entry-point or file names); "
    "empty loads none. [env: JAF_PLUGINS_LOAD]",
)
@click.option(
    "--block",
    metavar="NAMES",
    default=None,
    help="Blocklist: never these plugins (comma-separated). [env: JAF_PLUGINS_BLOCK]",
)
@click.option(
    "--autoload/--no-autoload",
    default=None,
    help="Discover installed plugins from their entry points. [env: JAF_PLUGINS_AUTOLOAD; "
    "default: on]",
)
@click.option(
    "--plugins-dir",
    "plugins_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path),
    help="Also load the plugin files and packages in this folder (repeatable).",
)
@click.option(
    "--settings-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The TOML settings file. [env: JAF_PLUGINS_SETTINGS_FILE; default: ./jaf-plugins.toml, "
    "else [tool.jaf-plugins] in ./pyproject.toml]",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="The .env file. [env: JAF_PLUGINS_ENV_FILE; default: ./.env]",
)
@click.option(
    "--trace",
    is_flag=True,
    envvar=TRACE_ENV,
    help="Print every hook call (plugin, arguments, duration) to stderr. "
    "[env: JAF_PLUGINS_TRACE=1]",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output while plugins start.")
@verbose_option
@click.pass_context
def main(
    ctx: click.Context,
    load: str | None,
    block: str | None,
    autoload: bool | None,
    plugins_dirs: tuple[Path, ...],
    settings_file: str | None,
    env_file: str | None,
    trace: bool,
    quiet: bool,
) -> None:
    """The jaf-plugins host: see what is installed, what is broken and why.

    Plugins are found through the 'jaf.plugins' entry-point group (and --plugins-dir).
    Exit status: 0 on success, 1 when something failed (check: when any problem was
    found), 2 on a usage error.
    """
    options = ctx.ensure_object(Options)
    options.load, options.block, options.autoload = load, block, autoload
    options.plugins_dirs = plugins_dirs
    options.settings_file, options.env_file = settings_file, env_file
    options.trace, options.quiet = trace, quiet
    ctx.call_on_close(lambda: [cleanup() for cleanup in reversed(options._cleanups)])
    if trace:
        install_tracer(options)


def _options(ctx: click.Context, *, logs: bool = True) -> Options:
    options = ctx.ensure_object(Options)
    if logs:
        install_logging(options)
    return options


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# -- list ---------------------------------------------------------------------------------------


@main.command("list", short_help="The plugins found: a table, or --json.")
@click.option(
    "--load",
    "load_code",
    is_flag=True,
    help="Import and start every plugin (then stop them) to show hooks, tools, agents, events.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects instead of a table.")
@verbose_option
@click.pass_context
def list_command(ctx: click.Context, load_code: bool, as_json: bool) -> None:
    """The plugins the host finds: name, version, distribution, source, kinds, status.

    Without --load nothing is imported: found plugins are 'discovered', and what their code
    offers is unknown ('?' in the table, null in JSON).
    """
    from . import _cli_inspect as facts

    options = _options(ctx)
    if load_code:

        async def loaded() -> tuple[list[dict[str, Any]], list[JafPluginsError]]:
            async with running_host(options) as pm:
                return facts.loaded_rows(pm), pm.problems

        rows, problems = anyio.run(loaded)
    else:
        rows, problems = facts.discovered_rows(options.manager(), options.plugins_dirs)
    if as_json:
        _emit_json(rows)
        for problem in problems:  # not a plugin's row: a name claimed twice
            click.echo(f"! {problem}", err=True)
        return
    from . import _cli_render as render

    render.plugin_table(rows)
    render.row_notes(rows, problems)


# -- info ---------------------------------------------------------------------------------------


@main.command(short_help="Everything about one plugin.")
@click.argument("name")
@click.option(
    "--no-start",
    is_flag=True,
    help="Import only: do not start the plugin (its tools, agents and handlers stay unknown).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@verbose_option
@click.pass_context
def info(ctx: click.Context, name: str, no_start: bool, as_json: bool) -> None:
    """Everything about plugin NAME: metadata, origin, dependencies (met or not), settings
    with the environment variable of each field, tools with their JSON schemas, agents and
    event handlers.

    Every plugin is imported (to resolve dependencies); NAME and its dependencies are
    started to list what they offer, then stopped.
    """
    from . import _cli_inspect as facts

    options = _options(ctx)

    async def gather() -> dict[str, Any]:
        pm = options.manager()
        try:
            await load_everything(pm, options)
            if name not in pm._registry.records:
                known = ", ".join(sorted(pm._registry.records))
                raise PluginNotFoundError(
                    f"no plugin named {name!r}",
                    hint=f"use one of: {known} (jaf-plugins list)",
                )
            started = False
            if not no_start and pm.get_status(name) is PluginStatus.INACTIVE:
                started = await pm.activate_plugin(name)
            elif pm.get_status(name) is PluginStatus.ACTIVE:
                started = True  # a built-in
            return facts.details(pm, name, started=started)
        finally:
            await pm.deactivate_all()

    data = anyio.run(gather)
    if as_json:
        if not options.verbose:
            data.pop("traceback")
        _emit_json(data)
        return
    from . import _cli_render as render

    render.plugin_details(data, verbose=options.verbose)


# -- check ----------------------------------------------------------------------------------


@main.command(short_help="Find every problem, with its fix (exit status 1 if any).")
@click.option(
    "--activate",
    is_flag=True,
    help="Also start every plugin and stop it again: runs initialize/activate/deactivate and "
    "checks tool and agent names.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@verbose_option
@click.pass_context
def check(ctx: click.Context, activate: bool, as_json: bool) -> None:
    """Find every problem, each with its fix: import errors, invalid plugins, missing or
    mismatched dependencies, cycles, invalid settings (and, with --activate, failures to
    start or stop and tool-name conflicts).

    Exit status 0 when healthy, 1 when any problem was found.
    """
    from . import _cli_inspect as facts

    options = _options(ctx)
    findings = facts.Findings()

    async def examine() -> list[dict[str, Any]]:
        if not activate:
            pm = options.manager()
            await load_everything(pm, options)
            facts.static_problems(pm, findings)
            return facts.plugin_verdicts(pm, findings)
        async with running_host(options) as pm:
            facts.name_conflicts(pm, findings)
        facts.started_problems(pm, findings)
        return facts.plugin_verdicts(pm, findings)

    verdicts = anyio.run(examine)
    problems = findings.problems
    if as_json:
        _emit_json(
            {
                "healthy": not problems,
                "started": activate,
                "plugins": verdicts,
                "problems": [
                    {**p.to_dict(), "traceback": p.traceback if options.verbose else None}
                    for p in problems
                ],
            }
        )
    else:
        from . import _cli_render as render

        render.check_report(verdicts, problems, started=activate, verbose=options.verbose)
    ctx.exit(1 if problems else 0)


# -- graph ----------------------------------------------------------------------------------


@main.command(short_help="The dependency graph (text, Mermaid or DOT).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
    help="text: a tree per plugin; mermaid: a flowchart; dot: Graphviz.",
)
@verbose_option
@click.pass_context
def graph(ctx: click.Context, fmt: str) -> None:
    """The dependency graph: each plugin and what it needs, with each constraint's state.

    Plugins are imported (their dependencies are declared in code) but not started. Edges
    point from a plugin to its dependency; built-ins appear when something needs them.
    """
    from . import _cli_inspect as facts
    from . import _cli_render as render

    options = _options(ctx)

    async def build() -> facts.Graph:
        pm = options.manager()
        await load_everything(pm, options)
        return facts.dependency_graph(pm)

    result = anyio.run(build)
    if fmt == "mermaid":
        click.echo(render.graph_mermaid(result))
    elif fmt == "dot":
        click.echo(render.graph_dot(result))
    else:
        render.graph_text(result)


# -- tool -----------------------------------------------------------------------------------


def _parse_arguments(args: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if args:
        try:
            parsed = json.loads(args)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--args") from None
        if not isinstance(parsed, dict):
            raise click.BadParameter("give a JSON object: '{\"key\": value}'", param_hint="--args")
        arguments.update(parsed)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--arg")
        try:
            arguments[key] = json.loads(value)
        except json.JSONDecodeError:
            arguments[key] = value  # a bare word is a string
    return arguments


@main.command(short_help="Call a tool and print its result.")
@click.argument("name")
@click.option("--args", "args", metavar="JSON", default=None, help="Arguments as a JSON object.")
@click.option(
    "-a",
    "--arg",
    "pairs",
    metavar="KEY=VALUE",
    multiple=True,
    help="One argument (repeatable); VALUE is JSON, or else a string.",
)
@verbose_option
@click.pass_context
def tool(ctx: click.Context, name: str, args: str | None, pairs: tuple[str, ...]) -> None:
    """Call tool NAME (or PLUGIN:NAME) of the installed plugins and print its result.

    Every plugin is started first and stopped afterwards. A string result is printed as it
    is, anything else as JSON.
    """
    options = _options(ctx)
    arguments = _parse_arguments(args, pairs)

    async def call() -> Any:
        async with running_host(options) as pm:
            found = pm.get_tool(name)
            if found is None:
                raise _no_such_tool(pm, name)
            try:
                result = found(**arguments)
            except TypeError as exc:  # e.g. a positional-only parameter passed by name
                raise ToolValidationError(
                    f"tool {name!r}: {exc}",
                    plugin=found.plugin,
                    hint="pass the parameters listed by jaf-plugins info "
                    f"{found.plugin or 'PLUGIN'}",
                ) from None
            if inspect.isawaitable(result):
                result = await result
            return result

    result = anyio.run(call)
    if isinstance(result, str):
        click.echo(result)
    else:
        click.echo(json.dumps(result, indent=2, default=str))


def _no_such_tool(pm: PluginManager, name: str) -> JafPluginsError:
    tools = sorted({f"{t.plugin}:{t.name}" for t in pm.list_tools()})
    down = [
        info.name
        for info in pm.list_plugins()
        if info.status in (PluginStatus.FAILED, PluginStatus.SKIPPED)
    ]
    hint = f"use one of: {', '.join(tools)}" if tools else "install a plugin that offers it"
    if down:
        hint += f"; plugins not running, which may offer it: {', '.join(down)} (jaf-plugins check)"
    return PluginNotFoundError(f"no active plugin offers a tool named {name!r}", hint=hint)


# -- demo ------------------------------------------------------------------------------------


@main.command()
@click.option("--tool", "tool_name", default=None, help="Tool to call (default: the first one).")
@click.option("--args", "tool_args", default=None, help="JSON arguments for the tool.")
@click.option("--event", "event_name", default="user_signup", show_default=True)
@click.option("--data", "event_data", default='{"name": "Ada", "city": "Paris"}', show_default=True)
@click.pass_context
def demo(
    ctx: click.Context,
    tool_name: str | None,
    tool_args: str | None,
    event_name: str,
    event_data: str,
) -> None:
    """Discover installed plugins, activate them, call a tool, emit an event, shut down."""
    options = _options(ctx, logs=False)
    logging.basicConfig(level=logging.WARNING, format="  log %(levelname)s %(name)s: %(message)s")
    code = anyio.run(_demo, options, tool_name, tool_args, event_name, json.loads(event_data))
    sys.exit(code)


async def _demo(
    options: Options,
    tool_name: str | None,
    tool_args: str | None,
    event_name: str,
    event_data: Any,
) -> int:
    out = click.echo
    out("1. discovering plugins from the 'jaf.plugins' entry-point group and activating them")
    async with running_host(options) as pm:
        _print_table(pm)
        tools = pm.list_tools()
        if not tools:
            out("\nNo tools: install a plugin, e.g. pip install ./contrib/jaf-plugins-weather")
            return 1
        tool = pm.get_tool(tool_name) if tool_name else tools[0]
        if tool is None:
            out(f"\nNo tool named {tool_name!r}; tools: {', '.join(t.name for t in tools)}")
            return 1
        arguments = json.loads(tool_args) if tool_args else _example_arguments(tool)
        out(f"\n2. calling tool {tool.name!r} (from plugin {tool.plugin!r}) with {arguments}")
        out(f"   -> {await tool.execute(arguments, None)}")
        out(f"\n3. emitting event {event_name!r} with {event_data}")
        outcome = await pm.emit_event(event_name, event_data)
        for result in outcome.results:
            shown = f"error: {result.error!r}" if result.error else repr(result.value)
            out(f"   handled by {result.plugin} ({result.handler}) -> {shown}")
        if not outcome.results:
            out("   (no plugin handles this event)")
        out("\n4. shutting down")
        stopping = pm.activation_order[::-1]
    out(f"   deactivated in reverse dependency order: {', '.join(stopping) or '-'}")
    healthy = all(
        pm.get_status(n) in (PluginStatus.INACTIVE, PluginStatus.ACTIVE) for n in pm.plugin_names
    )
    out("   clean shutdown" + ("" if healthy else " (some plugins failed: see the table)"))
    return 0


def _print_table(pm: PluginManager) -> None:
    rows = [("PLUGIN", "VERSION", "DISTRIBUTION", "SOURCE", "STATUS")]
    for info in pm.list_plugins():
        rows.append(
            (info.name, info.version or "?", info.distribution or "-", info.source, info.status)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "   " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    for info in pm.list_plugins():
        if info.error:
            click.echo(f"   ! {info.error}")


def _example_arguments(tool: Any) -> dict[str, Any]:
    """Fill required string parameters with a sample value, so any tool can be demoed."""
    schema = tool.json_schema["parameters"]
    return {
        name: "Paris" if spec.get("type") == "string" else 1
        for name, spec in schema.get("properties", {}).items()
        if name in schema.get("required", [])
    }


# -- new -------------------------------------------------------------------------------------


@main.command()
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, dir_okay=True),
    default=None,
    help="Where to create the project (must not exist, or be empty). [default: ./jaf-plugins-NAME]",
)
def new(name: str, directory: str | None) -> None:
    """Create a ready-to-publish plugin project for NAME (e.g. acme-weather): package,
    entry point, tests with the conformance suite, README and CI workflow."""
    from ._template import TemplateError, create_project, next_steps, parse_name

    try:
        project = parse_name(name)
    except TemplateError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    try:
        target = create_project(project, directory)
    except TemplateError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(next_steps(project, target))
