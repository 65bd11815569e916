"""Settings of `surecast console`, the volunteer's browser tab (``SURECAST_CONSOLE_*``). Pure: no I/O."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


class ConsoleSection(BaseModel):
    """Every field is ``SURECAST_CONSOLE_<FIELD>``.

    Every route of the console needs HTTP basic auth: these credentials when set, otherwise the stack's
    generated ones (``credentials.json`` on the spool, shared with Flower).
    """

    user: str = ""
    password: SecretStr = SecretStr("")
    bind: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    # The channel's master playlist as viewers fetch it, for the preview; empty = derived path-style from
    # SURECAST_S3_ENDPOINT_URL (or AWS's regional endpoint), the bucket, the prefix and the channel.
    stream_url: str = ""

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':'")
        return value

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty (derived) or start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> ConsoleSection:
        # Half a pair would silently fall back to the generated credentials: refuse it instead.
        if bool(self.user) != bool(self.password.get_secret_value()):
            raise ValueError(
                "SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together: set both, or neither "
                "to use the stack's generated credentials (`surecast credentials`)"
            )
        return self
