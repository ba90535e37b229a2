"""The test kit plugin authors use: run it the way they do, in a pytest of its own."""

from __future__ import annotations

import textwrap

import pytest

GOOD = """
    from jaf_plugins import Tool, ToolPlugin
    from jaf_plugins.testing import PluginConformance, call_tool


    class ShoutPlugin(ToolPlugin):
        def __init__(self):
            super().__init__()
            self.metadata.description = "Shouts"

        def get_tools(self):
            @Tool(name="shout", description="Shout a text")
            def shout(text: str) -> str:
                return text.upper()
            return [shout]


    class TestShoutConformance(PluginConformance):
        plugin = ShoutPlugin


    async def test_the_fixture_and_helpers(jaf_host):
        async with jaf_host(ShoutPlugin) as pm:
            assert await call_tool(pm, "shout", text="hi") == "HI"
"""

CHECKS = (
    "test_metadata_is_valid",
    "test_hooks_match_their_specifications",
    "test_lifecycle_round_trips",
    "test_deactivate_releases_what_activation_took",
    "test_tools_have_valid_schemas",
    "test_reload_keeps_it_working",
)


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_plugin=textwrap.dedent(source))
    pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess("-v")


def test_a_good_plugin_passes_every_check_on_both_backends(pytester: pytest.Pytester) -> None:
    source = GOOD.replace(
        "async def test_the_fixture",
        "import pytest\n\n    @pytest.mark.anyio\n    async def test_the_fixture",
    )
    result = run(pytester, source)
    # anyio's own anyio_backend fixture runs the plain test on every installed backend too.
    result.assert_outcomes(passed=(len(CHECKS) + 1) * 2)
    for check in CHECKS:
        result.stdout.fnmatch_lines([f"*TestShoutConformance::{check}?asyncio? PASSED*"])
        result.stdout.fnmatch_lines([f"*TestShoutConformance::{check}?trio? PASSED*"])


@pytest.mark.parametrize(
    ("change", "failing_check", "message"),
    [
        (
            ('name="shout"', 'name="shout loudly!"'),
            "test_tools_have_valid_schemas",
            "tool name 'shout loudly!' must match",
        ),
        (
            ('self.metadata.description = "Shouts"', "pass"),
            "test_metadata_is_valid",
            "has no description",
        ),
        (
            (
                "def get_tools(self):",
                "async def initialize(self, context):\n"
                "            self.log = open(__file__)\n"
                "            return True\n\n"
                "        def get_tools(self):",
            ),
            "test_deactivate_releases_what_activation_took",
            "kept resources after deactivate: open file descriptors",
        ),
        (
            (
                "def get_tools(self):",
                "@hookimpl\n        def on_evnt(self, event):\n            pass\n\n"
                "        def get_tools(self):",
            ),
            "test_hooks_match_their_specifications",
            "on_evnt is marked @hookimpl but there is no hook 'on_evnt'",
        ),
    ],
)
def test_a_plugin_that_breaks_a_rule_fails_that_check_with_the_fix(
    pytester: pytest.Pytester, change: tuple[str, str], failing_check: str, message: str
) -> None:
    source = GOOD.replace(*change).replace(
        "from jaf_plugins import Tool, ToolPlugin",
        "from jaf_plugins import Tool, ToolPlugin, hookimpl",
    )
    source = source[: source.index("    async def test_the_fixture")]
    result = run(pytester, source)
    result.stdout.fnmatch_lines([f"*{failing_check}?asyncio? FAILED*", f"*{message}*"])
    failed = {
        line.split("::")[-1].split("[")[0]
        for line in result.stdout.lines
        if " FAILED" in line and "::" in line
    }
    assert failed == {failing_check}, result.stdout.str()
