"""The settings of one S3 destination (``SURECAST_S3_*``, and each backup's). Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

MIB = 1024 * 1024


class S3Section(BaseModel):
    bucket: str = "surecast"
    endpoint_url: str = Field(default="", description="empty = AWS")
    prefix: str = "live"
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    # A file holding the key pair (core.s3_credentials), read at start when the two above are empty:
    # how the containers of the compose stack get the keys the embedded S3 server generated.
    credentials_file: str = ""
    addressing_style: Literal["auto", "path", "virtual"] = "path"
    # An additional checksum stored with each object, verified where the ETag is not an MD5 (SSE-KMS).
    checksum_algorithm: Literal["none", "SHA256"] = "none"
    # The integrity test on every file: the ETag the server returns (its MD5 of what it accepted after checking
    # the Content-MD5 we sent; for multipart the MD5 of the part MD5s) against ours. "etag" (the default) reads
    # the object back with a HEAD only where the ETag is no MD5 (SSE-KMS, SSE-C); "head" always does.
    verify: Literal["head", "etag"] = "etag"
    multipart_threshold: int = Field(default=16 * MIB, ge=5 * MIB)
    part_size: int = Field(default=8 * MIB, ge=5 * MIB)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    # Where viewers read the bucket (a CDN, a website endpoint); empty = the bucket's path-style address.
    # The redundant master playlists name every destination by it.
    public_url: str = ""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not 3 <= len(value) <= 63 or not all(c.isalnum() or c in "-." for c in value):
            raise ValueError("must be 3-63 characters of letters, digits, '-' or '.'")
        return value

    @field_validator("endpoint_url", "public_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty (AWS) or start with http:// or https://")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        return value
