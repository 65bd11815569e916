"""Read-only views over the journal, Redis and the encoder's status: nothing here changes any of them.

status.py   `surecast status`: queue depth, backlog, failures, per destination
watch.py    `surecast status --watch`: the same as a live view
metrics.py  `surecast metrics`: the Prometheus endpoint
workers.py  which upload workers are online (Celery remote control)
"""
