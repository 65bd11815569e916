"""Settings of `surecast console`, the volunteer's browser tab (``SURECAST_CONSOLE_*``). Pure: no I/O."""

from __future__ import annotations

from pydantic import Field, field_validator

from core.login_settings import LoginSection


class ConsoleSection(LoginSection):
    """Every field is ``SURECAST_CONSOLE_<FIELD>``.

    Every route of the console needs HTTP basic auth: these credentials when set, otherwise the stack's
    generated ones (``credentials.json`` on the spool, shared with Flower).
    """

    ENV_PREFIX = "SURECAST_CONSOLE_"

    port: int = Field(default=8090, ge=1, le=65535)
    # The channel's master playlist as viewers fetch it, for the preview; empty = derived path-style from
    # SURECAST_S3_ENDPOINT_URL (or AWS's regional endpoint), the bucket, the prefix and the channel.
    stream_url: str = ""

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty (derived) or start with http:// or https://")
        return value
