"""The names that tie plugins to the host: pluggy project, markers, entry-point group."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "jaf"
ENTRY_POINT_GROUP = "jaf.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
