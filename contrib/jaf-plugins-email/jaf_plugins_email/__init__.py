"""Send email over SMTP from JAF agents: the plugin-system spec's ``EmailPlugin``, made real.

Installed, it is the ``jaf.plugins`` entry point ``email_plugin``: tools ``send_email`` and
``send_template_email``, the agent ``EmailAgent``, and a welcome email on ``user_signup``.
"""

from ._messages import TEMPLATES, EmailTemplate
from ._plugin import EmailPlugin
from ._settings import EmailSettings
from ._smtp import EmailError, SMTPSetupError
from ._version import __version__

__all__ = [
    "TEMPLATES",
    "EmailError",
    "EmailPlugin",
    "EmailSettings",
    "EmailTemplate",
    "SMTPSetupError",
    "__version__",
]
