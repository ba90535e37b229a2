"""The ``jaf-plugins`` command."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import anyio
import click

from ._manager import PluginManager
from ._plugin import PluginStatus


@click.group()
@click.version_option(package_name="jaf-plugins")
def main() -> None:
    """The jaf-plugins host: discover, activate and inspect JAF plugins."""


@main.command()
@click.option("--tool", "tool_name", default=None, help="Tool to call (default: the first one).")
@click.option("--args", "tool_args", default=None, help="JSON arguments for the tool.")
@click.option("--event", "event_name", default="user_signup", show_default=True)
@click.option("--data", "event_data", default='{"name": "Ada", "city": "Paris"}', show_default=True)
def demo(tool_name: str | None, tool_args: str | None, event_name: str, event_data: str) -> None:
    """Discover installed plugins, activate them, call a tool, emit an event, shut down."""
    logging.basicConfig(level=logging.WARNING, format="  log %(levelname)s %(name)s: %(message)s")
    code = anyio.run(_demo, tool_name, tool_args, event_name, json.loads(event_data))
    sys.exit(code)


async def _demo(
    tool_name: str | None, tool_args: str | None, event_name: str, event_data: Any
) -> int:
    out = click.echo
    manager = PluginManager(autoload=True)
    out("1. discovering plugins from the 'jaf.plugins' entry-point group and activating them")
    async with manager as pm:
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
