"""Configuration: one pydantic-settings class, loaded once per process in its entry point.

Variables use the prefix ``SURECAST_`` and one underscore between section and field, so
``SURECAST_S3_ENDPOINT_URL`` is ``settings.s3.endpoint_url``. A ``.env`` file in the working
directory is read too. AWS credentials come from boto3's usual chain unless given here.
"""

from __future__ import annotations

import difflib
import os
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

from dotenv import dotenv_values
from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.alert_settings import (
    ALERTS_AFTER_SECONDS,
    FleetSection,
    check_alert_url_shapes,
    check_venue,
    derived_venue,
    split_alert_urls,
)
from core.client_settings import ClientSection
from core.console_settings import ConsoleSection
from core.destinations import PRIMARY, BackupSection, Destination, queue_for
from core.embedded_s3_settings import EmbeddedS3Section
from core.encoder_settings import EncoderSection
from core.errors import SurecastError
from core.retired_settings import RETIRED, retired_backup_notices, retired_notices
from core.s3_credentials import read_credentials_file
from core.s3_section import S3Section
from core.service_settings import FlowerSection, MetricsSection


class RedisSection(BaseModel):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class SpoolSection(BaseModel):
    dir: Path = Path("spool")
    # Verified files are kept locally this long before the disk guard may remove them.
    retention_seconds: int = Field(default=3600, ge=0)


class UploadSection(BaseModel):
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_cap: float = Field(default=30.0, gt=0)
    # An upload still running after soft_time_limit is interrupted and retried (multipart resumes);
    # time_limit kills the worker child outright.
    soft_time_limit: int = Field(default=600, ge=1)
    time_limit: int = Field(default=660, ge=2)
    # A published file no worker started this long, while Redis holds fewer messages than the journal
    # expects (Redis lost some), is published again.
    reconcile_after: int = Field(default=120, ge=1)
    # A failed file (credentials, bucket) is tried again after this long, doubling up to the cap:
    # fixing the cause heals everything without a command.
    failed_retry_base: float = Field(default=30.0, gt=0)
    failed_retry_cap: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _cap_above_base(self) -> UploadSection:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("SURECAST_UPLOAD_BACKOFF_CAP must be at least SURECAST_UPLOAD_BACKOFF_BASE")
        if self.time_limit <= self.soft_time_limit:
            raise ValueError("SURECAST_UPLOAD_TIME_LIMIT must be greater than SURECAST_UPLOAD_SOFT_TIME_LIMIT")
        if self.failed_retry_cap < self.failed_retry_base:
            raise ValueError("SURECAST_UPLOAD_FAILED_RETRY_CAP must be at least SURECAST_UPLOAD_FAILED_RETRY_BASE")
        return self


class WorkerSection(BaseModel):
    concurrency: int = Field(default=4, ge=1, le=64)
    queue: str = "surecast"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SURECAST_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    redis: RedisSection = RedisSection()
    s3: S3Section = S3Section()
    spool: SpoolSection = SpoolSection()
    upload: UploadSection = UploadSection()
    worker: WorkerSection = WorkerSection()
    metrics: MetricsSection = MetricsSection()
    flower: FlowerSection = FlowerSection()
    encoder: EncoderSection = EncoderSection()
    client: ClientSection = ClientSection()
    embedded_s3: EmbeddedS3Section = EmbeddedS3Section()
    console: ConsoleSection = ConsoleSection()
    # More destinations beside SURECAST_S3_*, as JSON (core.destinations).
    backups: list[BackupSection] = Field(default_factory=list)
    # Where alerts go: Apprise URLs (core.alert_settings), and how long a state holds before one is sent.
    alerts: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    alerts_after: float = Field(default=ALERTS_AFTER_SECONDS, ge=0, le=3600)
    # This venue's name in alerts and on the fleet page; empty = derived (Settings.venue_name).
    venue: str = ""
    fleet: FleetSection = FleetSection()
    _destination: str = PrivateAttr(default=PRIMARY)

    @field_validator("alerts", mode="before")
    @classmethod
    def _alerts_list(cls, value: object) -> object:
        return split_alert_urls(value)

    @field_validator("alerts")
    @classmethod
    def _alerts_shape(cls, value: list[SecretStr]) -> list[SecretStr]:
        return check_alert_url_shapes(value)

    @field_validator("venue")
    @classmethod
    def _venue(cls, value: str) -> str:
        return check_venue(value)

    @property
    def venue_name(self) -> str:
        """SURECAST_VENUE, else the name in a ``venue-<name>`` queue, else this host's name."""
        return derived_venue(self.venue, self.worker.queue, socket.gethostname())

    @property
    def destination(self) -> str:
        """The destination this process serves (core.destinations.for_destination); the primary by default."""
        return self._destination

    @property
    def queue(self) -> str:
        """The Celery queue of this process's destination."""
        return queue_for(self.worker.queue, self._destination)

    def destinations(self) -> list[Destination]:
        """The primary first, then the backups in the order given (of the settings as loaded)."""
        if self._destination != PRIMARY:
            raise ValueError("destinations() needs the settings as loaded, not those of one destination")
        base = self.worker.queue
        found = [Destination(PRIMARY, self.s3, base)]
        found += [Destination(b.name, b, queue_for(base, b.name)) for b in self.backups]
        return found

    def for_destination(self, name: str) -> Settings:
        """These settings as a process serving destination ``name`` sees them: its S3 section as ``s3``, its
        queue as ``queue``, its name as ``destination`` (which picks its journal file). ValueError if unknown."""
        if self._destination == name:
            return self
        for found in self.destinations():
            if found.name == name:
                s3 = S3Section.model_validate(found.s3.model_dump(include=set(S3Section.model_fields)))
                derived = self.model_copy(update={"s3": s3})
                derived._destination = name
                return derived
        known = ", ".join(d.name for d in self.destinations())
        raise ValueError(f"no destination {name!r}: the destinations are {known} (SURECAST_BACKUPS adds backups)")

    @property
    def visibility_timeout(self) -> int:
        """Seconds before Redis redelivers an unacked task: above time limit plus the longest backoff.

        Shorter, and a slow upload or a long countdown would be delivered to a second worker.
        """
        busy = self.upload.time_limit + int(self.upload.backoff_cap) + 1
        return busy + max(5, busy // 10)

    @model_validator(mode="after")
    def _backups_distinct(self) -> Settings:
        named = [b.name for b in self.backups]
        if len(set(named)) != len(named):
            raise ValueError(f"SURECAST_BACKUPS: each backup needs its own name, got {', '.join(named)}")
        return self


_SECRET_VARIABLES = {
    "SURECAST_REDIS_URL",
    "SURECAST_S3_ACCESS_KEY_ID",
    "SURECAST_S3_SECRET_ACCESS_KEY",
    "SURECAST_METRICS_PASSWORD",
    "SURECAST_FLOWER_PASSWORD",
    "SURECAST_CONSOLE_PASSWORD",
    "SURECAST_FLEET_PASSWORD",
    "SURECAST_ALERTS",
}


class SettingsError(SurecastError):
    """The environment holds a setting that cannot be used; the message names it."""


# Read by the compose files (image tag, multi-venue names), not by surecast: allowed in .env and the shell.
COMPOSE_VARIABLES = frozenset({"SURECAST_IMAGE", "SURECAST_REDIS_PASSWORD", "SURECAST_NODE_FILE"})
ENV_FILE = Path(".env")


def known_variables() -> set[str]:
    """Every ``SURECAST_`` variable a setting reads."""
    names: set[str] = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.update(f"SURECAST_{section}_{name}".upper() for name in model.model_fields)
        else:  # a setting of its own, such as SURECAST_BACKUPS
            names.add(f"SURECAST_{section}".upper())
    return names


def unknown_variables(names: Iterable[str], where: str) -> list[str]:
    """One line per ``SURECAST_`` name no setting reads and none ever did (core.retired_settings), with the
    nearest known name. Pure."""
    known = known_variables()
    lines = []
    for name in sorted(n for n in names if n.upper().startswith("SURECAST_")):
        if name.upper() in known or name.upper() in COMPOSE_VARIABLES or name.upper() in RETIRED:
            continue
        # Compared without the prefix every name shares, so only a real likeness counts.
        stems = {k.removeprefix("SURECAST_"): k for k in known}
        near = difflib.get_close_matches(name.upper().removeprefix("SURECAST_"), sorted(stems), n=1, cutoff=0.75)
        hint = f": did you mean {stems[near[0]]}?" if near else " (deploy/.env.example lists every setting)"
        lines.append(f"unknown setting {name} in {where}{hint}")
    return lines


def _print_notice(line: str) -> None:
    print(f"surecast: {line}", file=sys.stderr)


def load_settings(notice: Callable[[str], None] = _print_notice) -> Settings:
    """Read settings from the environment and ``.env``; raise SettingsError naming the bad variable.

    A ``SURECAST_`` name that no setting reads is refused too: a typo would otherwise be ignored and its
    default used in silence (the stream going to the default bucket). A name that was a setting once is
    ignored, with one ``notice`` line saying what replaced it.
    """
    found: dict[str, dict[str, str | None]] = {"the environment": dict(os.environ)}
    if ENV_FILE.is_file():
        found[str(ENV_FILE)] = dotenv_values(ENV_FILE)
    backups = next((values["SURECAST_BACKUPS"] for values in found.values() if "SURECAST_BACKUPS" in values), None)
    for line in retired_notices(found) + retired_backup_notices(backups):
        notice(line)
    typos = [line for where, values in found.items() for line in unknown_variables(values, where)]
    if typos:
        raise SettingsError("; ".join(typos))
    try:
        return _with_file_credentials(Settings())
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"] or err["type"] == "value_error" and "SURECAST_" in err["msg"]:
                # a rule across fields; its message names the variables
                lines.append(err["msg"].removeprefix("Value error, "))
                continue
            name = "SURECAST_" + "_".join(str(p) for p in err["loc"]).upper()
            shown = "<hidden>" if name in _SECRET_VARIABLES else repr(err.get("input"))
            lines.append(f"{name}: {err['msg']} (got {shown})")
        raise SettingsError("invalid setting " + "; ".join(lines)) from None


def _with_file_credentials(settings: Settings) -> Settings:
    """The keys of SURECAST_S3_CREDENTIALS_FILE filled in, unless keys are given directly."""
    s3 = settings.s3
    if not s3.credentials_file or (s3.access_key_id and s3.secret_access_key):
        return settings
    try:
        pair = read_credentials_file(Path(s3.credentials_file))
    except ValueError as exc:
        raise SettingsError(f"invalid setting SURECAST_S3_CREDENTIALS_FILE: {exc}") from None
    keys = {"access_key_id": SecretStr(pair.access_key_id), "secret_access_key": pair.secret_access_key}
    return settings.model_copy(update={"s3": s3.model_copy(update=keys)})


EXIT_BAD_SETTINGS = 2


def settings_or_exit() -> Settings:
    """Settings for an entry point; on a bad setting, print the one line naming it and exit with status 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"surecast: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_SETTINGS)
