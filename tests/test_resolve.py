"""Tests of the pure dependency resolver ``jaf_plugins._resolve.plan``.

The property tests compare ``plan`` with a small, deliberately naive model of the rules:

* an *edge* ``a -> b`` (``b`` in ``after[a]``) exists for every dependency of ``a`` on a
  different, loaded plugin ``b`` whose version matches the constraint (required or optional);
* a *cycle* is a strongly connected component of those edges with more than one member;
  edges inside a cycle are dropped, and every member gets a ``DependencyCycleError``;
* any other node gets the error of its first required dependency that is itself, missing,
  or at a mismatched version; optional dependencies never produce an error;
* ``order`` is the lexicographically smallest topological order of the remaining edges.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from jaf_plugins import (
    DependencyCycleError,
    DependencyError,
    DependencyVersionError,
    MissingDependencyError,
    PluginDependency,
)
from jaf_plugins._resolve import Node, Plan, plan

# -- helpers --------------------------------------------------------------------------------


def dep(name: str, constraint: str = "", *, optional: bool = False) -> PluginDependency:
    return PluginDependency(name, constraint, optional)


def node(
    version: str | None = "1.0",
    *deps: PluginDependency | str,
    distribution: str | None = None,
) -> Node:
    parsed = [d if isinstance(d, PluginDependency) else PluginDependency(d) for d in deps]
    return Node(
        version=None if version is None else Version(version),
        dependencies=parsed,
        distribution=distribution,
    )


_TOKEN = re.compile(r"[A-Za-z0-9._-]+")


def tokens(text: str) -> set[str]:
    """Words of ``text`` that could be plugin names or versions (quotes and arrows dropped)."""
    return set(_TOKEN.findall(text))


def assert_respects_after(result: Plan) -> None:
    position = {name: i for i, name in enumerate(result.order)}
    for name, deps in result.after.items():
        for d in deps:
            assert position[d] < position[name], (d, name, result.order)


# -- unit tests -----------------------------------------------------------------------------


def test_empty_graph() -> None:
    result = plan({})
    assert result.order == []
    assert result.errors == {}
    assert result.requires == {}
    assert result.after == {}


def test_chain_orders_dependencies_first_whatever_the_insertion_order() -> None:
    graph = {"c": node("1.0", "b"), "b": node("1.0", "a"), "a": node("1.0")}
    result = plan(graph)
    assert result.order == ["a", "b", "c"]
    assert result.requires == {"a": (), "b": ("a",), "c": ("b",)}
    assert result.after == {"a": (), "b": ("a",), "c": ("b",)}
    assert result.errors == {}


def test_independent_nodes_are_ordered_by_name() -> None:
    result = plan({"b": node(), "c": node(), "a": node(), "B": node(), "a1": node()})
    assert result.order == ["B", "a", "a1", "b", "c"]


def test_ties_are_broken_by_name_among_the_nodes_that_are_ready() -> None:
    # "a" sorts first but has to wait for "z"; "m" is ready at once.
    result = plan({"a": node("1.0", "z"), "z": node(), "m": node()})
    assert result.order == ["m", "z", "a"]


def test_diamond() -> None:
    graph = {
        "top": node("1.0", "left", "right"),
        "left": node("1.0", "base"),
        "right": node("1.0", "base"),
        "base": node(),
    }
    result = plan(graph)
    assert result.order == ["base", "left", "right", "top"]
    assert result.after["top"] == ("left", "right")
    assert result.errors == {}


def test_missing_required_dependency() -> None:
    result = plan({"app": node("1.0", "db", distribution="app-dist")})
    error = result.errors["app"]
    assert isinstance(error, MissingDependencyError)
    assert error.plugin == "app"
    assert error.distribution == "app-dist"
    assert "'db'" in error.message
    assert {"app", "db"} <= tokens(str(error))
    assert result.requires["app"] == ()
    assert result.after["app"] == ()
    assert result.order == ["app"]


def test_missing_optional_dependency_is_no_error_and_no_edge() -> None:
    result = plan({"app": node("1.0", dep("cache", optional=True))})
    assert result.errors == {}
    assert result.after == {"app": ()}
    assert result.requires == {"app": ()}


def test_present_optional_dependency_is_waited_for_but_not_required() -> None:
    result = plan({"app": node("1.0", dep("cache", ">=1.0", optional=True)), "cache": node("1.5")})
    assert result.errors == {}
    assert result.after["app"] == ("cache",)
    assert result.requires["app"] == ()
    assert result.order == ["cache", "app"]


def test_version_mismatch_of_required_dependency() -> None:
    result = plan({"app": node("1.0", dep("db", ">=2.0,<3")), "db": node("1.5")})
    error = result.errors["app"]
    assert isinstance(error, DependencyVersionError)
    assert error.plugin == "app"
    assert ">=2.0,<3" in error.message
    assert "1.5" in tokens(error.message)
    assert "db" in tokens(error.message)
    assert result.after["app"] == ()
    assert result.requires["app"] == ()
    assert "db" not in result.errors


def test_version_mismatch_of_optional_dependency_is_no_error_and_no_edge() -> None:
    result = plan({"app": node("1.0", dep("db", "==1.5", optional=True)), "db": node("2.0")})
    assert result.errors == {}
    assert result.after["app"] == ()
    assert result.order == ["app", "db"]


@pytest.mark.parametrize(
    ("constraint", "version", "matches"),
    [
        (">=1.0", "1.0", True),
        (">=1.0", "0.9", False),
        ("<2", "1.9.9", True),
        ("<2", "2", False),
        ("==1.5", "1.5.0", True),
        ("==1.5", "1.5.1", False),
        ("!=1.5", "1.5", False),
        (">=1.0,<2", "2.0", False),
        ("", "0.0.1", True),
        # The resolver accepts prereleases of a loaded plugin when the range covers them.
        (">=1.0", "2.0rc1", True),
    ],
)
def test_constraints(constraint: str, version: str, matches: bool) -> None:
    result = plan({"app": node("1.0", dep("db", constraint)), "db": node(version)})
    if matches:
        assert result.errors == {}
        assert result.requires["app"] == ("db",)
    else:
        assert isinstance(result.errors["app"], DependencyVersionError)
        assert result.requires["app"] == ()


def test_unknown_version_satisfies_any_constraint() -> None:
    result = plan({"app": node("1.0", dep("db", "==9.9")), "db": node(None)})
    assert result.errors == {}
    assert result.requires["app"] == ("db",)


def test_required_self_dependency_is_a_cycle() -> None:
    result = plan({"loop": node("1.0", "loop")})
    error = result.errors["loop"]
    assert isinstance(error, DependencyCycleError)
    assert error.plugin == "loop"
    assert result.after["loop"] == ()
    assert result.order == ["loop"]


def test_optional_self_dependency_is_ignored() -> None:
    result = plan({"loop": node("1.0", dep("loop", optional=True))})
    assert result.errors == {}
    assert result.after["loop"] == ()


def test_two_node_cycle_and_a_dependent_of_it() -> None:
    graph = {"b": node("1.0", "a"), "a": node("1.0", "b"), "user": node("1.0", "a"), "z": node()}
    result = plan(graph)
    assert set(result.errors) == {"a", "b"}
    for name in ("a", "b"):
        error = result.errors[name]
        assert isinstance(error, DependencyCycleError)
        assert error.plugin == name
        assert error.message == "dependency cycle: a -> b -> a"
    # the cycle's own edges are dropped so its members can be ordered (and fail at once)...
    assert result.after["a"] == () and result.after["b"] == ()
    assert result.requires["a"] == () and result.requires["b"] == ()
    # ...while a plugin outside the cycle keeps waiting for (and requiring) its member.
    assert result.after["user"] == ("a",)
    assert result.requires["user"] == ("a",)
    assert sorted(result.order) == ["a", "b", "user", "z"]
    assert_respects_after(result)


def test_cycle_message_follows_the_edges_from_the_smallest_name() -> None:
    graph = {"c": node("1.0", "b"), "b": node("1.0", "a"), "a": node("1.0", "c")}
    result = plan(graph)
    assert {str(e.message) for e in result.errors.values()} == {
        "dependency cycle: a -> c -> b -> a"
    }


def test_cycle_through_a_present_optional_dependency() -> None:
    graph = {"a": node("1.0", dep("b", optional=True)), "b": node("1.0", "a")}
    result = plan(graph)
    assert set(result.errors) == {"a", "b"}
    assert all(isinstance(e, DependencyCycleError) for e in result.errors.values())


def test_two_separate_cycles_name_only_their_own_members() -> None:
    graph = {
        "a1": node("1.0", "a2"),
        "a2": node("1.0", "a1"),
        "b1": node("1.0", "b2"),
        "b2": node("1.0", "b3"),
        "b3": node("1.0", "b1", "a1"),
    }
    result = plan(graph)
    assert set(result.errors) == set(graph)
    for name in ("a1", "a2"):
        assert tokens(result.errors[name].message) & set(graph) == {"a1", "a2"}
    for name in ("b1", "b2", "b3"):
        assert tokens(result.errors[name].message) & set(graph) == {"b1", "b2", "b3"}
    assert result.after["b3"] == ("a1",)
    assert_respects_after(result)


def test_cycle_error_replaces_an_earlier_dependency_error() -> None:
    graph = {"a": node("1.0", "missing", "b"), "b": node("1.0", "a")}
    result = plan(graph)
    assert isinstance(result.errors["a"], DependencyCycleError)
    assert isinstance(result.errors["b"], DependencyCycleError)


def test_first_failing_required_dependency_is_reported() -> None:
    graph = {
        "app": node("1.0", dep("opt", optional=True), dep("db", ">=2"), "gone"),
        "db": node("1.0"),
    }
    result = plan(graph)
    assert isinstance(result.errors["app"], DependencyVersionError)


def test_duplicate_dependency_entries() -> None:
    graph = {"app": node("1.0", "db", "db", dep("db", optional=True)), "db": node()}
    result = plan(graph)
    assert result.errors == {}
    assert result.order == ["db", "app"]
    assert set(result.after["app"]) == {"db"}


def test_large_graphs_do_not_recurse() -> None:
    size = 3000
    names = [f"n{i:05d}" for i in range(size)]
    chain = {name: node("1.0", *names[i + 1 : i + 2]) for i, name in enumerate(names)}
    result = plan(chain)
    assert result.order == names[::-1]
    assert result.errors == {}

    ring = {name: node("1.0", names[(i + 1) % size]) for i, name in enumerate(names)}
    result = plan(ring)
    assert set(result.errors) == set(names)
    assert sorted(result.order) == names


# -- the model ------------------------------------------------------------------------------

VERSIONS = ["0.9", "1.0", "1.5", "2.0", "3.0"]
CONSTRAINTS: dict[str, Callable[[Version], bool]] = {
    "": lambda v: True,
    ">=1.0": lambda v: v >= Version("1.0"),
    "<2": lambda v: v < Version("2"),
    "==1.5": lambda v: v == Version("1.5"),
    "!=1.5": lambda v: v != Version("1.5"),
    ">=1.0,<2": lambda v: Version("1.0") <= v < Version("2"),
}


@dataclass(frozen=True)
class Expected:
    after: dict[str, tuple[str, ...]]
    requires: dict[str, tuple[str, ...]]
    cycles: dict[str, frozenset[str]]
    """Each node on a cycle -> all members of its strongly connected component."""
    first_problem: dict[str, tuple[str, PluginDependency]]
    """Nodes off cycles with a broken required dependency -> ("self"|"missing"|"version", dep)."""


def problem_of(name: str, d: PluginDependency, graph: Mapping[str, Node]) -> str | None:
    if d.name == name:
        return "self"
    if d.name not in graph:
        return "missing"
    version = graph[d.name].version
    if version is not None and not CONSTRAINTS[d.constraint](version):
        return "version"
    return None


def reachable(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(edges[current])
    return seen


def model(graph: Mapping[str, Node]) -> Expected:
    edges = {
        name: [d.name for d in n.dependencies if problem_of(name, d, graph) is None]
        for name, n in graph.items()
    }
    reach = {name: reachable(name, edges) for name in graph}
    cycles: dict[str, frozenset[str]] = {}
    for name in graph:
        component = frozenset({name} | {m for m in reach[name] if name in reach[m]})
        if len(component) > 1:
            cycles[name] = component
    after: dict[str, tuple[str, ...]] = {}
    requires: dict[str, tuple[str, ...]] = {}
    first_problem: dict[str, tuple[str, PluginDependency]] = {}
    for name, n in graph.items():
        inside = cycles.get(name, frozenset())
        after[name] = tuple(d for d in edges[name] if d not in inside)
        requires[name] = tuple(
            d.name
            for d in n.dependencies
            if not d.optional and problem_of(name, d, graph) is None and d.name not in inside
        )
        if name not in cycles:
            for d in n.dependencies:
                kind = problem_of(name, d, graph)
                if kind is not None and not d.optional:
                    first_problem[name] = (kind, d)
                    break
    return Expected(after, requires, cycles, first_problem)


# -- strategies -----------------------------------------------------------------------------

# Names end in a digit so they never collide with the words of an error message.
_LETTERS = "abcxyzABZ"
NAME = st.builds(
    "{}{}{}".format,
    st.sampled_from(_LETTERS),
    st.text(alphabet=_LETTERS + "019._-", max_size=3),
    st.sampled_from("0129"),
)


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Node]:
    """A pool of names; some are loaded nodes, the rest are only ever depended on (missing)."""
    pool = draw(st.lists(NAME, min_size=1, max_size=10, unique=True))
    loaded = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    dependency = st.builds(
        PluginDependency,
        st.sampled_from(pool),
        st.sampled_from(list(CONSTRAINTS)),
        st.booleans(),
    )
    version = st.one_of(st.none(), st.sampled_from(VERSIONS).map(Version))
    return {
        name: Node(
            version=draw(version),
            dependencies=draw(st.lists(dependency, max_size=4)),
            distribution=draw(st.one_of(st.none(), st.just(f"dist-{name}"))),
        )
        for name in loaded
    }


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- properties -----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(graphs())
def test_order_is_a_permutation_of_all_nodes(graph: dict[str, Node]) -> None:
    result = plan(graph)
    assert sorted(result.order) == sorted(graph)
    assert len(result.order) == len(set(result.order))
    assert set(result.after) == set(graph) == set(result.requires)
    assert set(result.errors) <= set(graph)


@PROPERTY_SETTINGS
@given(graphs())
def test_dependencies_come_first(graph: dict[str, Node]) -> None:
    result = plan(graph)
    position = {name: i for i, name in enumerate(result.order)}
    for name in graph:
        if name in result.errors:
            continue
        for d in result.after[name]:
            assert position[d] < position[name], (d, name, result.order)
    # The docstring promises more: dependencies before dependents for *every* node.
    assert_respects_after(result)


@PROPERTY_SETTINGS
@given(graphs())
def test_edges_match_the_model(graph: dict[str, Node]) -> None:
    result = plan(graph)
    expected = model(graph)
    assert result.after == expected.after
    assert result.requires == expected.requires
    for name, reqs in result.requires.items():
        assert set(reqs) <= set(result.after[name])


@PROPERTY_SETTINGS
@given(graphs())
def test_order_is_the_smallest_by_name(graph: dict[str, Node]) -> None:
    """Among the nodes whose dependencies are all placed, the smallest name goes next."""
    result = plan(graph)
    expected = model(graph)
    placed: set[str] = set()
    for name in result.order:
        ready = [n for n in graph if n not in placed and set(expected.after[n]) <= placed]
        assert name == min(ready), (name, ready, result.order)
        placed.add(name)


@PROPERTY_SETTINGS
@given(st.data(), graphs())
def test_plan_is_deterministic(data: st.DataObject, graph: dict[str, Node]) -> None:
    shuffled_names = data.draw(st.permutations(list(graph)))
    shuffled = {name: graph[name] for name in shuffled_names}
    first, again, other = plan(graph), plan(graph), plan(shuffled)
    for result in (again, other):
        assert result.order == first.order
        assert result.after == first.after
        assert result.requires == first.requires
        assert {n: (type(e), str(e)) for n, e in result.errors.items()} == {
            n: (type(e), str(e)) for n, e in first.errors.items()
        }


@PROPERTY_SETTINGS
@given(graphs())
def test_every_cycle_member_gets_a_cycle_error_naming_the_cycle(graph: dict[str, Node]) -> None:
    result = plan(graph)
    expected = model(graph)
    for name, members in expected.cycles.items():
        error = result.errors.get(name)
        assert isinstance(error, DependencyCycleError), (name, error)
        assert error.plugin == name
        assert error.distribution == graph[name].distribution
        named = tokens(error.message) & set(graph)
        assert named == members, (error.message, sorted(members))


@PROPERTY_SETTINGS
@given(graphs())
def test_errors_match_the_model(graph: dict[str, Node]) -> None:
    result = plan(graph)
    expected = model(graph)
    assert set(result.errors) == set(expected.cycles) | set(expected.first_problem)
    for name, (kind, d) in expected.first_problem.items():
        error = result.errors[name]
        assert isinstance(error, DependencyError)
        assert error.plugin == name
        assert error.distribution == graph[name].distribution
        words = tokens(str(error))
        if kind == "self":
            assert isinstance(error, DependencyCycleError), error
            assert name in words
        elif kind == "missing":
            assert isinstance(error, MissingDependencyError), error
            assert {name, d.name} <= words, error
        else:
            assert isinstance(error, DependencyVersionError), error
            version = graph[d.name].version
            assert d.constraint in error.message, error
            assert str(version) in tokens(error.message), error
            assert {name, d.name} <= words, error


@PROPERTY_SETTINGS
@given(graphs())
def test_optional_dependencies_never_cause_errors(graph: dict[str, Node]) -> None:
    """Making every dependency optional leaves only cycles among loaded, matching plugins."""
    relaxed = {
        name: Node(
            n.version,
            [PluginDependency(d.name, d.constraint, optional=True) for d in n.dependencies],
            n.distribution,
        )
        for name, n in graph.items()
    }
    result = plan(relaxed)
    expected = model(relaxed)
    assert set(result.errors) == set(expected.cycles)
    assert all(isinstance(e, DependencyCycleError) for e in result.errors.values())
    assert all(reqs == () for reqs in result.requires.values())
    for name, n in relaxed.items():
        usable = {d.name for d in n.dependencies if problem_of(name, d, relaxed) is None}
        assert set(result.after[name]) <= usable
