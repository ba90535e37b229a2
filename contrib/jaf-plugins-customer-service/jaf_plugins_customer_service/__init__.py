"""Customer-service agents for JAF (the spec's CustomerServicePlugin).

The plugin ``customer_service`` offers ``GeneralSupportAgent`` and ``BillingAgent``. Their
tools are the database plugin's (``database_plugin``, a required dependency), plus the
email plugin's ``send_email`` for the support agent when ``email_plugin`` is active.
"""

from __future__ import annotations

from ._plugin import (
    BILLING_TOOLS,
    SUPPORT_TOOLS,
    CustomerServicePlugin,
    CustomerServiceSettings,
)

__version__ = "0.1.0"

__all__ = [
    "BILLING_TOOLS",
    "SUPPORT_TOOLS",
    "CustomerServicePlugin",
    "CustomerServiceSettings",
    "__version__",
]
