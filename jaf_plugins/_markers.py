"""The names that tie plugins to the host: pluggy project and markers (the entry-point group
is in ``_installed``, which must not import pluggy)."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "jaf"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
