"""The root of every error surecast raises on purpose; each package hangs its own tree below it.

    SurecastError
    ├── SettingsError       core.settings: a setting cannot be used; the message names the variable
    ├── UploadError         uploader.errors: retryable (connection, throttling, integrity) or permanent
    ├── EncoderError        encoder.errors: bad source, no FFmpeg, archive not complete in time
    ├── ClientError         client.errors: what a viewer's request ran into
    └── BucketSetupError    stack.bucket_setup: a bucket setting the operator must fix

Third-party errors (botocore, urllib3, FFmpeg exits) are translated at one boundary per package, with the
original kept as the cause.
"""

from __future__ import annotations


class SurecastError(Exception):
    """Root of every error surecast raises on purpose."""
