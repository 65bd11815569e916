"""The login of a page that may listen beyond loopback (the console, the fleet page). Pure: no I/O."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, SecretStr, field_validator, model_validator


class LoginSection(BaseModel):
    """``user`` and ``password`` for HTTP basic auth, and the address to listen on; a subclass names its
    variables' prefix (``ENV_PREFIX``) for the errors."""

    ENV_PREFIX: ClassVar[str] = "SURECAST_"

    user: str = ""
    password: SecretStr = SecretStr("")
    bind: str = "127.0.0.1"

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':'")
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        # Half a pair would silently fall back to the generated credentials: refuse it instead.
        if bool(self.user) != bool(self.password.get_secret_value()):
            raise ValueError(
                f"{self.ENV_PREFIX}USER and {self.ENV_PREFIX}PASSWORD go together: set both, or neither "
                "to use the stack's generated credentials (`surecast credentials`)"
            )
        return self
