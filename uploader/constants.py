"""Numbers only we tune that several upload modules (and the reconciler process) share."""

from __future__ import annotations

# A file whose worker died (its lease not renewed) is published again for a live worker within this long.
RECOVER_AFTER = 10.0
# How long an upload's lease lasts; renewed three times as often, so a live worker never loses it.
LEASE_SECONDS = RECOVER_AFTER * 0.6
# What the reconciler beside each worker is started with (`surecast reconcile --every N`): abandoned
# multipart uploads are looked for every 20 of these (ten minutes).
RECONCILE_INTERVAL = 30
# Multipart uploads no journal entry knows of are aborted once they are this old (seconds): a day, far
# longer than any upload of ours lasts.
ABANDONED_MULTIPART_AFTER = 86400
