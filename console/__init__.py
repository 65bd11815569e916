"""`surecast console`: the one browser tab an AV volunteer keeps open during a service.

state.py     the big state in plain words (LIVE, CATCHING UP, UPLINK DOWN, DISK FULL, PROBLEM). Pure
history.py   the last 30 minutes, one point every 2 s, in a bounded ring buffer. Pure
figures.py   what is shown, read at one instant: `surecast status --json` and the console's own figures
workers.py   the upload workers online, asked of Celery in a thread of its own
sampler.py   the thread taking the figures every 2 s into the history and the snapshot
actions.py   retry failed files now; ask the encoder to finish the event
stream.py    the preview's address (the channel's master playlist in the bucket). Pure
backend.py   what the server serves: the sampler, the actions, the page's config
server.py    the Tornado server: basic auth on every route, the JSON API, the page
incidents.py what the states say someone responsible should be told: alert conditions. Pure
alerting.py  run by the sampler: the conditions through the alert rules into the outbox; the heartbeat
fleet.py     `surecast fleet`: every venue's heartbeat, OFFLINE when one stops (the dead man's switch)
fleet_server.py  the fleet page's routes on the console's server (same login rules)
web/         the pages: index.html, console.js, console.css, vendored uPlot (README.md there); fleet.html, fleet.js
"""
