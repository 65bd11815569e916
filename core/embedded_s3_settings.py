"""Settings of the embedded S3 server (``SURECAST_EMBEDDED_S3_*``), SeaweedFS run by `surecast up` when no
destination is configured and by `surecast embedded-s3`. Pure: no I/O.

Each SeaweedFS service listens on an HTTP port and on a gRPC port 10000 above it, so every port here
must leave room for that and no two of the eight may meet.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

GRPC_OFFSET = 10000  # SeaweedFS's convention: a service's gRPC port is its HTTP port + 10000
HIGHEST_PORT = 65535 - GRPC_OFFSET


class EmbeddedS3Section(BaseModel):
    """Every field is ``SURECAST_EMBEDDED_S3_<FIELD>``."""

    # The S3 listener's address: loopback by default; the compose file sets 0.0.0.0 inside the container.
    # The master, volume server and filer always listen on 127.0.0.1 only.
    bind: str = "127.0.0.1"
    port: int = Field(default=8333, ge=1024, le=HIGHEST_PORT)
    master_port: int = Field(default=9333, ge=1024, le=HIGHEST_PORT)
    volume_port: int = Field(default=9334, ge=1024, le=HIGHEST_PORT)
    filer_port: int = Field(default=9335, ge=1024, le=HIGHEST_PORT)
    dir: str = Field(default="", description="empty = <SURECAST_SPOOL_DIR>/s3")
    # How a viewer's browser reaches the S3 port, for the player URL `surecast up` prints.
    public_url: str = Field(default="", description="empty = http://127.0.0.1:<port>")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty or start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _ports_apart(self) -> EmbeddedS3Section:
        http = [self.port, self.master_port, self.volume_port, self.filer_port]
        every = http + [p + GRPC_OFFSET for p in http]
        if len(set(every)) != len(every):
            raise ValueError(
                "SURECAST_EMBEDDED_S3_PORT, _MASTER_PORT, _VOLUME_PORT and _FILER_PORT must differ, "
                f"also from each other's gRPC port (port + {GRPC_OFFSET})"
            )
        return self
