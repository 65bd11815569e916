"""The alerts package's errors, below ``core.errors.SurecastError``:

AlertError
├── AlertNotSent   the target refused or did not answer: tried again later (retryable)
└── BadAlertURL    Apprise cannot use a configured URL: the start stops (permanent)
"""

from __future__ import annotations

from core.errors import SurecastError


class AlertError(SurecastError):
    """Something about alerts went wrong."""


class AlertNotSent(AlertError):
    """The target refused the message or did not answer in time; it is tried again later."""


class BadAlertURL(AlertError):
    """An entry of SURECAST_ALERTS that Apprise cannot parse or does not support."""
