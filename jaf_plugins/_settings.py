"""Host settings, from constructor arguments and ``JAF_PLUGINS_*`` environment variables."""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import SettingsError

ENV_PREFIX = "JAF_PLUGINS_"


class HostSettings(BaseSettings):
    """How the host finds and runs plugins. Constructor arguments win over the environment.

    ==========================  ==================================================  =========
    environment variable        meaning                                             default
    ==========================  ==================================================  =========
    ``JAF_PLUGINS_LOAD``        comma-separated allowlist; set but empty = none     all
    ``JAF_PLUGINS_BLOCK``       comma-separated blocklist                           none
    ``JAF_PLUGINS_AUTOLOAD``    ``0`` turns off entry-point discovery               ``1``
    ``JAF_PLUGINS_TIMEOUT``     seconds for each initialize/activate/deactivate     ``30``
    ``JAF_PLUGINS_EVENT_TIMEOUT`` seconds for each event handler                    ``30``
    ==========================  ==================================================  =========
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    load: str | None = None
    block: str = ""
    autoload: bool = True
    timeout: float = pydantic.Field(30.0, gt=0)
    event_timeout: float = pydantic.Field(30.0, gt=0)

    @property
    def allowlist(self) -> frozenset[str] | None:
        return None if self.load is None else _names(self.load)

    @property
    def blocklist(self) -> frozenset[str]:
        return _names(self.block)


def _names(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def load_host_settings(**overrides: Any) -> HostSettings:
    given = {key: value for key, value in overrides.items() if value is not None}
    for key in ("load", "block"):
        if isinstance(given.get(key), (list, tuple, set, frozenset)):
            given[key] = ",".join(given[key])
    try:
        return HostSettings(**given)
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        source = (
            f"argument {field!r}"
            if field in given
            else f"environment variable {ENV_PREFIX}{field.upper()}"
        )
        raise SettingsError(
            f"{source}: {error['msg']} (got {error.get('input')!r})",
            hint=f"set {ENV_PREFIX}{field.upper()} to a valid value, or unset it",
        ) from None
