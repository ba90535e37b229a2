"""Drawing the ``jaf-plugins`` command's screens. rich is imported here, and this module
only when something is drawn, so ``import jaf_plugins`` (and ``jaf-plugins demo``) never
pay for it.

On a terminal rich draws with colours at the terminal's width. Anywhere else (a pipe, a
file, CI) the same screens are plain text, never wrapped, with no trailing spaces, so they
can be read by scripts and compared in tests.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

import click
from rich import box
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ._cli_host import cli_hint, fix_of, headline
from ._cli_inspect import DISCOVERED, Edge, Graph, Problem
from ._errors import JafPluginsError

_STYLES = {
    "active": "green",
    "ok": "green",
    DISCOVERED: "cyan",
    "inactive": "cyan",
    "disabled": "dim",
    "skipped": "yellow",
}
_PLAIN_WIDTH = 200


def show(*renderables: RenderableType) -> None:
    """Print rich renderables on stdout: coloured on a terminal, plain text otherwise."""
    stdout = sys.stdout
    if _is_terminal(stdout):
        console = Console(file=stdout, highlight=False)
        for renderable in renderables:
            console.print(renderable)
        return
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=_PLAIN_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        emoji=False,
    )
    for renderable in renderables:
        console.print(renderable)
    for line in buffer.getvalue().splitlines():
        click.echo(line.rstrip())


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def styled(value: str) -> Text:
    style = _STYLES.get(value.split(" ")[0], "bold red")
    return Text(value, style=style)


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.pad_edge = False
    return table


def _indented(renderable: RenderableType) -> Padding:
    return Padding(renderable, (0, 0, 0, 2))


def _dash(value: object) -> str:
    return "-" if value in (None, "", []) else str(value)


# -- list -------------------------------------------------------------------------------------


def plugin_table(rows: list[dict[str, Any]]) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("NAME", "VERSION", "DISTRIBUTION", "SOURCE", "KINDS", "STATUS"):
        # On a narrow terminal the distribution and kinds wrap; names and statuses never do.
        table.add_column(column, no_wrap=column not in ("DISTRIBUTION", "KINDS"))
    for row in rows:
        table.add_row(
            row["name"],
            _dash(row["version"]),
            _dash(row["distribution"]),
            row["source"],
            kinds_cell(row),
            styled(row["status"]),
        )
    show(table)


def kinds_cell(row: dict[str, Any]) -> str:
    if not row["loaded"]:
        return "?"
    parts = []
    for kind in ("tools", "agents"):
        if row[kind]:
            parts.append(f"{kind} ({len(row[kind])})")
    if row["events"]:
        parts.append("events")
    return ", ".join(parts) or "-"


def row_notes(rows: list[dict[str, Any]], problems: Iterable[JafPluginsError]) -> None:
    """Under the table: why each plugin is not running, each with its fix."""
    lines = []
    for row in rows:
        if row["error"]:
            fix = row.get("fix")
            message = row["error"].removesuffix(f". Fix: {fix}") if fix else row["error"]
            lines.append(f"! {message}")
            if fix:
                lines.append(f"  fix: {cli_hint(fix, row['name'])}")
        elif row["note"]:
            lines.append(f"- {row['name']}: {row['status']}: {row['note']}")
    for problem in problems:
        lines.append(f"! {headline(problem)}")
        if (fix := fix_of(problem)) is not None:
            lines.append(f"  fix: {fix}")
    if any(not row["loaded"] and row["status"] == DISCOVERED for row in rows):
        lines.append(
            "discovered: found but not imported; `jaf-plugins list --load` imports and starts "
            "them to show their tools, agents and events"
        )
    if lines:
        click.echo("")
    for line in lines:
        click.echo(line)


# -- info -------------------------------------------------------------------------------------


def plugin_details(data: dict[str, Any], *, verbose: bool) -> None:
    out = click.echo
    version = f" {data['version']}" if data["version"] else ""
    title = Text.assemble((data["name"], "bold"), version, "  ", styled(data["status"]))
    head = _grid()
    head.add_column(style="dim")
    head.add_column()
    head.add_row("source", _origin(data))
    if data["distribution"]:
        head.add_row(
            "distribution", f"{data['distribution']} {_dash(data['distribution_version'])}"
        )
    if data["location"]:
        head.add_row("location", data["location"])
    if data["author"]:
        head.add_row("author", data["author"])
    head.add_row("hooks", "?" if data["hooks"] is None else _dash(", ".join(data["hooks"])))
    show(title)
    if data["description"]:
        out(data["description"])
    out("")
    show(head)
    if data["error"]:
        out("")
        out(f"error: {data['error']}")
        if data["fix"]:
            out(f"  fix: {data['fix']}")
        if data["traceback"]:
            if verbose:
                out(data["traceback"].rstrip())
            elif "--verbose" not in (data["fix"] or ""):
                out("  (run with --verbose for the traceback)")
    if data["note"]:
        out("")
        out(f"note: {data['note']}")
    if not data["loaded"]:
        return
    _dependencies(data)
    _settings(data)
    _offered(data)


def _origin(data: dict[str, Any]) -> str:
    source, target = data["source"], data["target"]
    if source == "entry-point":
        return f"entry point {data['name']} = {target}"
    if source == "directory":
        return f"plugin directory, {target}"
    if source == "builtin":
        return "built into the host"
    return f"loaded by code ({target})"


def _dependencies(data: dict[str, Any]) -> None:
    click.echo("")
    deps = data["dependencies"]
    if not deps:
        click.echo("dependencies: none")
    else:
        click.echo("dependencies")
        table = _grid()
        for _ in range(4):
            table.add_column()
        for dep in deps:
            have = "not loaded"
            if dep["status"] is not None:
                have = f"{_dash(dep['version'])} {dep['status']}"
            verdict = "ok" if dep["satisfied"] else f"NOT MET: {dep['problem']}"
            name = dep["name"] + (" (optional)" if dep["optional"] else "")
            table.add_row(
                name,
                dep["constraint"] or "any version",
                have,
                styled("ok") if dep["satisfied"] else Text(verdict, style="bold red"),
            )
        show(_indented(table))
    click.echo(f"required by: {', '.join(data['required_by']) or 'none'}")


def _settings(data: dict[str, Any]) -> None:
    settings = data["settings"]
    click.echo("")
    if settings is None:
        return
    if settings["model"] is None:
        keys = ", ".join(settings["keys"]) or "none set"
        click.echo(
            f"settings: no settings_model; the plugin gets the raw values of its namespace "
            f"({settings['env_prefix']}<KEY>, [plugins.{data['name']}]): {keys}"
        )
        return
    click.echo(f"settings ({settings['model']})")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    described = any(field["description"] for field in settings["fields"])
    columns = ["FIELD", "TYPE", "REQUIRED", "ENVIRONMENT VARIABLE", "VALUE"]
    for column in [*columns, "DESCRIPTION"] if described else columns:
        table.add_column(column, no_wrap=column != "DESCRIPTION")
    for field in settings["fields"]:
        cells: list[RenderableType] = [
            field["name"],
            field["type"],
            "yes" if field["required"] else "no",
            field["env"],
            _setting_value(field),
        ]
        if described:
            cells.append(field["description"] or "")
        table.add_row(*cells)
    show(_indented(table))


def _setting_value(field: dict[str, Any]) -> Text:
    source = ""
    if field["source"]:
        # The variable is in its own column: name only where else the value came from.
        shown = field["source"]
        if shown == f"environment variable {field['env']}":
            shown = "environment"
        elif shown.startswith(f"{field['env']} in "):
            shown = shown.removeprefix(f"{field['env']} in ")
        source = f" ({shown})"
    if field["secret"]:
        if field["set"]:
            return Text(f"set{source}", style="green")
        return Text("unset", style="bold red" if field["required"] else "dim")
    if field["set"]:
        return Text(f"{json.dumps(field['value'], default=str)}{source}")
    if field["required"]:
        return Text("unset", style="bold red")
    return Text(f"{json.dumps(field['default'], default=str)} (default)", style="dim")


def _offered(data: dict[str, Any]) -> None:
    out = click.echo
    out("")
    if not data["started"]:
        out("tools, agents, event handlers: unknown (the plugin is not running)")
        return
    tools = data["tools"]
    out(f"tools: {'none' if not tools else len(tools)}")
    for schema in tools:
        out(f"  {schema['name']}: {schema['description']}")
        text = json.dumps(schema["parameters"], indent=2)
        out("\n".join("    " + line for line in text.splitlines()))
    agents = data["agents"]
    out(f"agents: {'none' if not agents else len(agents)}")
    for agent in agents:
        extra = f" (tools: {', '.join(agent['tools'])})" if agent["tools"] else ""
        out(f"  {agent['name']}{extra}")
    events = data["events"]
    out(f"event handlers: {'none' if not events else len(events)}")
    for handler in events:
        what = "every event" if handler["event"] == "*" else repr(handler["event"])
        out(f"  {what}: {handler['handler']}")


# -- check ----------------------------------------------------------------------------------


def check_report(
    verdicts: list[dict[str, Any]], problems: list[Problem], *, started: bool, verbose: bool
) -> None:
    out = click.echo
    how = "started and stopped" if started else "imported and resolved, not started"
    out(f"checked {len(verdicts)} plugins ({how})")
    table = _grid()
    for _ in range(3):
        table.add_column()
    for verdict in verdicts:
        table.add_row(verdict["name"], _dash(verdict["version"]), styled(verdict["verdict"]))
    show(_indented(table))
    if problems:
        out("")
        out(f"problems: {len(problems)}")
    for problem in problems:
        where = problem.plugin or "host"
        if problem.distribution:
            where += f" ({problem.distribution})"
        kind = "" if problem.message.startswith(problem.kind) else f"{problem.kind}: "
        out(f"! {where}: {kind}{problem.message}")
        if problem.fix:
            out(f"  fix: {problem.fix}")
        if problem.traceback:
            if verbose:
                out("\n".join("    " + line for line in problem.traceback.rstrip().splitlines()))
            elif "--verbose" not in (problem.fix or ""):
                out("  (--verbose shows the traceback)")
    out("")
    if problems:
        out(f"not healthy: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    else:
        out(f"healthy: {len(verdicts)} plugins, no problems")
        if not started:
            out("(tool and agent names are checked once plugins start: check --activate)")


# -- graph ----------------------------------------------------------------------------------


def _label(name: str, node: dict[str, Any]) -> str:
    version = f" {node['version']}" if node["version"] else ""
    status = node["status"]
    shown = "" if status in ("active", "inactive") else f" ({status})"
    if node["source"] == "builtin":
        shown = " (built in)"
    return f"{name}{version}{shown}"


def graph_text(graph: Graph) -> None:
    by_plugin: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        by_plugin.setdefault(edge.plugin, []).append(edge)
    trees = []
    for name, node in graph.nodes.items():
        if node["source"] == "builtin" and name not in by_plugin:
            continue
        tree = Tree(_label(name, node), guide_style="dim")
        for edge in by_plugin.get(name, []):
            constraint = f" {edge.constraint}" if edge.constraint else ""
            optional = " (optional)" if edge.optional else ""
            have = graph.nodes[edge.dependency]["version"]
            state = (
                styled(f"ok ({have})" if have else "ok")
                if edge.state == "ok"
                else Text(edge.state.upper(), style="bold red")
            )
            tree.add(Text.assemble(f"{edge.dependency}{constraint}{optional}  ", state))
        trees.append(tree)
    if trees:
        show(*trees)
    else:
        click.echo("no plugins")
    click.echo("")
    click.echo(f"start order: {', '.join(graph.order) or 'none'}")


def _mermaid_id(name: str, used: dict[str, str]) -> str:
    if name not in used:
        base = re.sub(r"[^0-9A-Za-z_]", "_", name)
        ident = base
        while ident in used.values():
            ident += "_"
        used[name] = ident
    return used[name]


def graph_mermaid(graph: Graph) -> str:
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for name, node in graph.nodes.items():
        label = _label(name, node).replace('"', "#quot;")
        klass = node["status"] if node["status"] in ("failed", "missing", "disabled") else ""
        suffix = f":::{klass}" if klass else ""
        lines.append(f'    {_mermaid_id(name, ids)}["{label}"]{suffix}')
    for edge in graph.edges:
        arrow = "-.->" if edge.optional else "-->"
        text = " ".join(part for part in (edge.constraint, _edge_note(edge)) if part)
        label = f'|"{text}"|' if text else ""
        source, target = _mermaid_id(edge.plugin, ids), _mermaid_id(edge.dependency, ids)
        lines.append(f"    {source} {arrow}{label} {target}")
    lines += [
        "    classDef failed stroke:#c00,stroke-width:2px",
        "    classDef missing stroke:#c00,stroke-dasharray:4 4",
        "    classDef disabled stroke:#999,color:#999",
    ]
    return "\n".join(lines)


def _edge_note(edge: Edge) -> str:
    if edge.state == "ok":
        return "optional" if edge.optional else ""
    return edge.state


def graph_dot(graph: Graph) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph plugins {", "  rankdir=LR;", "  node [shape=box];"]
    for name, node in graph.nodes.items():
        attrs = [f"label={quote(_label(name, node))}"]
        if node["status"] in ("failed", "missing"):
            attrs.append("color=red")
        if node["status"] in ("missing", "disabled"):
            attrs.append("style=dashed")
        lines.append(f"  {quote(name)} [{', '.join(attrs)}];")
    for edge in graph.edges:
        attrs = []
        text = " ".join(part for part in (edge.constraint, _edge_note(edge)) if part)
        if text:
            attrs.append(f"label={quote(text)}")
        if edge.optional:
            attrs.append("style=dashed")
        if edge.state != "ok":
            attrs.append("color=red")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {quote(edge.plugin)} -> {quote(edge.dependency)}{suffix};")
    lines.append("}")
    return "\n".join(lines)
