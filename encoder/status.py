"""The encoder's status file, ``encoder-status.json``: what the encoder last said about itself (event,
FFmpeg, renditions, free disk). Written here, read here; other packages call ``read_encoder_status``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.files import write_durably

STATUS_NAME = "encoder-status.json"


def write_encoder_status(spool: Path, event_root: str, status: dict[str, Any]) -> None:
    """Write the status in the spool's root (the latest event) and in the event's own folder."""
    data = json.dumps(status, indent=2).encode()
    write_durably(spool / event_root / STATUS_NAME, data, sync=False)
    write_durably(spool / STATUS_NAME, data, sync=False)


def read_encoder_status(spool: Path) -> dict[str, Any] | None:
    """What the latest encoder on this spool last wrote, or None if none has run here."""
    try:
        data: dict[str, Any] = json.loads((Path(spool) / STATUS_NAME).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data
