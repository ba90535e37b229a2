"""The dependency graph: version checks, cycles, and a deterministic activation order.

Pure functions over names and versions; the lifecycle decides what actually runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packaging.version import Version

from ._errors import (
    DependencyCycleError,
    DependencyError,
    DependencyVersionError,
    MissingDependencyError,
)
from ._plugin import PluginDependency


@dataclass(frozen=True)
class Node:
    """One plugin as the resolver sees it. ``version`` is ``None`` when unknown."""

    version: Version | None
    dependencies: Sequence[PluginDependency] = ()
    distribution: str | None = None


@dataclass
class Plan:
    order: list[str]
    """Every node, dependencies before dependents, ties broken by name."""
    requires: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Required dependencies that are present and match their constraint."""
    after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Everything a node waits for: required plus present optional dependencies.

    Tuples, not lists: tuples of strings leave the garbage collector's books, and a plan of
    thousands of plugins lives through a whole start (lists made it run full collections)."""
    errors: dict[str, DependencyError] = field(default_factory=dict)
    """Nodes that can never start, and why (missing, version mismatch, cycle)."""


def plan(graph: Mapping[str, Node]) -> Plan:
    result = Plan(order=[])
    for name, node in graph.items():
        requires: list[str] = []
        after: list[str] = []
        for dep in node.dependencies:
            error = _check(name, node, dep, graph)
            if error is None:
                after.append(dep.name)
                if not dep.optional:
                    requires.append(dep.name)
            elif not dep.optional and name not in result.errors:
                result.errors[name] = error
        result.requires[name] = tuple(requires)
        result.after[name] = tuple(after)

    for cycle in _cycles(result.after):
        ring = " -> ".join([*cycle, cycle[0]])
        for name in cycle:
            result.errors[name] = DependencyCycleError(
                f"dependency cycle: {ring}",
                plugin=name,
                distribution=graph[name].distribution,
                hint="remove one of these dependencies so the plugins can start in order",
            )
        members = set(cycle)
        for name in cycle:  # a ring cannot be ordered; its members fail without waiting
            result.after[name] = tuple(d for d in result.after[name] if d not in members)
            result.requires[name] = tuple(d for d in result.requires[name] if d not in members)
    result.order = _topological(result.after)
    return result


def _check(
    name: str, node: Node, dep: PluginDependency, graph: Mapping[str, Node]
) -> DependencyError | None:
    if dep.name == name:
        return DependencyCycleError(
            "depends on itself",
            plugin=name,
            distribution=node.distribution,
            hint=f"remove {name!r} from its own metadata.dependencies",
        )
    target = graph.get(dep.name)
    if target is None:
        return MissingDependencyError(
            f"requires {dep.name!r}, which is not loaded",
            plugin=name,
            distribution=node.distribution,
            hint=f"install or load the plugin {dep.name!r}, or mark the dependency optional",
        )
    if (
        target.version is not None
        and dep.constraint
        and not dep.specifier.contains(target.version, prereleases=True)
    ):
        return DependencyVersionError(
            f"requires {dep.name}{dep.constraint}, but {dep.name!r} {target.version} is loaded",
            plugin=name,
            distribution=node.distribution,
            hint=f"install a version of {dep.name!r} matching {dep.constraint!r}, "
            "or relax the constraint",
        )
    return None


def _cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(_ring_order(component, edges))
    return found


def _ring_order(component: list[str], edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Order a cycle's members along its edges, starting from the smallest name."""
    members = set(component)
    start = min(component)
    ring = [start]
    seen = {start}
    current = start
    while True:
        step = next((d for d in edges[current] if d in members and d not in seen), None)
        if step is None:
            break
        ring.append(step)
        seen.add(step)
        current = step
    ring.extend(sorted(members - seen))
    return ring


def _topological(after: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm with a name-ordered heap: deterministic for a given graph."""
    waiting = {name: 0 for name in after}
    dependents: dict[str, list[str]] = {name: [] for name in after}
    for name, deps in after.items():
        for dep in deps:
            if dep in waiting:
                waiting[name] += 1
                dependents[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order
