"""Soak runs: a live event through the real stack under a schedule of faults, and FFmpeg's direct upload
under the same schedule. Not collected by pytest (no test files here); `tests/system/test_soak_smoke.py` runs the
2-minute version, and the full run is a command:

    python -m tests.soak --minutes 10 --compare --report /tmp/soak.md

Modules: ``schedule`` (the faults and their scaling), ``config`` (full and smoke profiles), ``targets``
(what the faults act on), ``faults`` (applies a schedule in time), ``observe`` (live playlist poller,
spool/RSS sampler), ``surecast_run`` (the soak and its checks), ``ffmpeg_direct`` (FFmpeg PUTting to S3
itself), ``fliprelay`` (corrupts chunked request bodies), ``analysis`` (catch-up, cadence), ``bucket``
(listing, VOD decode), ``report`` (printing).
"""
