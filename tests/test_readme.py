"""The README's examples, run as written: what people copy must work."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jaf_plugins import PluginManager, PluginStatus

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    text = README.read_text()
    start = text.index(heading)
    match = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert match is not None, f"no python block after {heading!r}"
    return match.group(1)


def settings_example() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    code = compile(
        python_block_after("### Plugin settings"), "README.md", "exec", dont_inherit=True
    )
    exec(code, namespace)
    return namespace


@pytest.mark.anyio
async def test_readme_settings_example_with_every_documented_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jaf-plugins.toml").write_text(
        '[plugins.mail_plugin]\nsmtp_host = "mail.internal"\nsmtp_port = 2500\nusername = "t"\n'
    )
    (tmp_path / ".env").write_text("JAF_PLUGINS__MAIL_PLUGIN__SMTP_PORT=2501\n")
    monkeypatch.setenv("JAF_PLUGINS__MAIL_PLUGIN__USERNAME", "ada")
    example = settings_example()
    plugin = example["MailPlugin"]()

    pm = PluginManager(config={"mail_plugin": {"password": "pw"}})
    await pm.load_plugin("mail_plugin", plugin)
    async with pm:
        assert pm.get_status("mail_plugin") is PluginStatus.ACTIVE
        settings = plugin.settings
        assert isinstance(settings, example["MailSettings"])
        assert (settings.smtp_host, settings.smtp_port, settings.username) == (
            "mail.internal",
            2501,
            "ada",
        )
        assert settings.password.get_secret_value() == "pw"


@pytest.mark.anyio
async def test_readme_settings_error_example_is_what_the_host_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for field, value in {"SMTP_PORT": "abc", "USERNAME": "ada", "PASSWORD": "pw"}.items():
        monkeypatch.setenv(f"JAF_PLUGINS__MAIL_PLUGIN__{field}", value)
    example = settings_example()
    pm = PluginManager()
    await pm.load_plugin("mail_plugin", example["MailPlugin"]())
    async with pm:
        error = pm.get_error("mail_plugin")
    documented = re.search(
        r"`(plugin 'mail_plugin': invalid settings:.*?)`", README.read_text(), re.DOTALL
    )
    assert documented is not None
    assert error == " ".join(documented.group(1).split())
