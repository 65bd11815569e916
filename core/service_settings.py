"""Settings of the services beside the pipeline: Flower (``SURECAST_FLOWER_*``) and the Prometheus
endpoint (``SURECAST_METRICS_*``). Pure: no I/O."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

LOOPBACK_ADDRESSES = ("127.0.0.1", "::1", "localhost")


class FlowerSection(BaseModel):
    """Settings of `surecast flower`; every field is ``SURECAST_FLOWER_<FIELD>``."""

    user: str = ""
    password: SecretStr = SecretStr("")
    # Loopback by default; the compose file sets 0.0.0.0 inside the container and publishes the port
    # on the host's loopback only.
    address: str = "127.0.0.1"
    port: int = Field(default=5555, ge=1, le=65535)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if ":" in value or "," in value:
            raise ValueError("must not contain ':' or ','")
        return value


class MetricsSection(BaseModel):
    """Settings of `surecast metrics`; every field is ``SURECAST_METRICS_<FIELD>``."""

    bind: str = "127.0.0.1"
    port: int = Field(default=9108, ge=1, le=65535)
    # Required once the endpoint is reachable beyond this PC (bind not loopback).
    user: str = ""
    password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _auth_beyond_loopback(self) -> MetricsSection:
        if self.bind not in LOOPBACK_ADDRESSES and not (self.user and self.password.get_secret_value()):
            raise ValueError(
                "SURECAST_METRICS_USER and SURECAST_METRICS_PASSWORD are required "
                "when SURECAST_METRICS_BIND is not loopback"
            )
        return self
