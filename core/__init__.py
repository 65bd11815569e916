"""The neutral core every other package shares; it imports none of them.

    contract.py         the upload task: its name, payload, priorities, headers and content types
    settings.py         the one settings class (``SURECAST_*``), loaded once per process by its entry point
    encoder_settings.py ``SURECAST_ENCODER_*`` and ladder.py, the rendition ladder
    client_settings.py  ``SURECAST_CLIENT_*``
    service_settings.py ``SURECAST_FLOWER_*`` and ``SURECAST_METRICS_*``
    celeryconfig.py     the Celery/Redis settings publishers and workers must share
    publisher.py        sends upload tasks into Redis by task name (a Celery app that knows only the broker)
    hls.py              the HLS model: one renderer and one parser (RFC 8216)
    files.py            streaming MD5 and durable writes of spool files
    backoff.py          capped, jittered exponential backoff
    errors.py           the root of every error surecast raises on purpose
    share.py            the link to the viewers' page and the snippet that embeds it
    web_assets.py       the browser files every page shares (web/: hls.js, failover.js), by path

Pure but for files.py (which reads and writes the files it is given) and publisher.py (which talks to Redis).
"""
