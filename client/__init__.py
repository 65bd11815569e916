"""The viewer's side: `surecast play` (a verifying HLS client) and `surecast player` (the web player).

Where a segment goes, by module::

    origin.py      GET one object over HTTP(S) or the S3 API; every transport error becomes ours here
    fetcher.py     retries with backoff inside bounded deadlines; MD5 check and re-fetch (integrity.py)
    downloader.py  a thread following the media playlist (playlist.py, follow.py), queueing verified segments
    session.py     the delay buffer (playout.py) hands segments to the outputs on a real-time schedule
    outputs.py     FFmpeg decode check, recording file, ffplay; serve.py re-serves HLS on the LAN
    report.py      what happened: segments, gaps, discontinuities, decode errors, stalls, re-fetches

Pure modules (no I/O): playlist, follow, integrity, playout, report. The commands are in surecast.commands.
"""
