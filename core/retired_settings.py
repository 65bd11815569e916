"""Names that were settings once and are now numbers only we tune. Pure: no I/O.

Every published name keeps working: a retired one, in the environment or in ``.env``, is accepted and
ignored, with one line at start saying what replaced it. The figures here are those of the constants
that replaced them (``tests/unit/test_settings.py`` checks that they agree).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

# What replaced each retired variable, as the notice says it.
RETIRED: dict[str, str] = {
    "SURECAST_REDIS_VISIBILITY_TIMEOUT": (
        "it is derived from SURECAST_UPLOAD_TIME_LIMIT and SURECAST_UPLOAD_BACKOFF_CAP, always above them"
    ),
    "SURECAST_S3_CHECKSUM": "boto3's checksums stay pinned to when_required, which every S3 server accepts",
    "SURECAST_UPLOAD_RECONCILE_INTERVAL": "abandoned multipart uploads are looked for every 10 minutes",
    "SURECAST_UPLOAD_RECOVER_AFTER": "a file whose worker died is taken up by a live worker within 10 s",
    "SURECAST_UPLOAD_SUSPECT_ATTEMPTS": "a suspect answer is retried 6 times before the file counts as failed",
    "SURECAST_UPLOAD_ABANDONED_MULTIPART_AFTER": "multipart uploads no journal knows are aborted after a day",
    "SURECAST_FLOWER_PURGE_OFFLINE_AFTER": "Flower forgets workers silent for 5 minutes",
    "SURECAST_ENCODER_POLL_INTERVAL": "the encoder looks every 10 ms",
    "SURECAST_ENCODER_REPUBLISH_INTERVAL": "the encoder publishes again every second what did not reach Redis",
    "SURECAST_ENCODER_RESTART_BACKOFF_BASE": "FFmpeg is restarted after 1 s, doubling up to 30 s",
    "SURECAST_ENCODER_RESTART_BACKOFF_CAP": "FFmpeg is restarted after 1 s, doubling up to 30 s",
    "SURECAST_ENCODER_STALL_TIMEOUT": "FFmpeg silent for 3 segments + 10 s is restarted",
    "SURECAST_CLIENT_FAILOVER_AFTER": "a viewer turns to the next destination after 4 s without an answer",
    "SURECAST_CLIENT_PROBE_EVERY": "a viewer checks every 15 s whether the first destination is back",
    "SURECAST_CLIENT_INTEGRITY_ATTEMPTS": "a segment failing its MD5 check is downloaded 3 times before it is fatal",
    "SURECAST_CLIENT_SERVE_WINDOW": "the LAN re-serve lists the last 30 segments",
}
# The fields of a backup (SURECAST_BACKUPS) are those of SURECAST_S3_*: the retired ones among them.
_S3 = "SURECAST_S3_"
RETIRED_BACKUP_FIELDS = {name.removeprefix(_S3).lower(): name for name in RETIRED if name.startswith(_S3)}


def retired_notices(found: Mapping[str, Iterable[str]]) -> list[str]:
    """One line per retired name among ``found`` (where -> the names there), saying what replaced it and
    where to remove it; a name in several places gets one line. Pure."""
    places: dict[str, list[str]] = {}
    for where, names in found.items():
        for name in names:
            if name.upper() in RETIRED:
                places.setdefault(name.upper(), []).append(where)
    return [
        f"{name} is no longer a setting ({RETIRED[name]}); remove it from {' and '.join(places[name])}"
        for name in sorted(places)
    ]


def retired_backup_notices(raw: str | None) -> list[str]:
    """One line per retired field named in a ``SURECAST_BACKUPS`` value (ignored like the variable). Pure;
    a value that is no JSON list of objects is left to the settings' own check."""
    try:
        entries = json.loads(raw or "[]")
    except ValueError:
        return []
    fields = sorted({f for e in entries if isinstance(e, dict) for f in e} if isinstance(entries, list) else set())
    return [
        f"SURECAST_BACKUPS: {field!r} is no longer a setting ({RETIRED[RETIRED_BACKUP_FIELDS[field]]}); remove it"
        for field in fields
        if field in RETIRED_BACKUP_FIELDS
    ]
