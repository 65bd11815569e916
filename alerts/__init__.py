"""Told in time: alerts to the people responsible for a venue, and the heartbeat the fleet watches.

incidents.py  the rules: held for a while, one message per incident, no repeat within the hour. Pure
messages.py   the words: title, body with what to do, the venue and the channel. Pure
targets.py    SURECAST_ALERTS's Apprise URLs, and the one place Apprise is called
sender.py     one thread per target: the outbox's messages sent, retried until they are
heartbeat.py  a venue's state in the central Redis with a time to live: the fleet's one key layout
errors.py     AlertNotSent (tried again), BadAlertURL (the start stops)

What is wrong is decided by the console (``console/state.py``), which runs these rules in its sampler;
messages wait in the journal's ``alerts`` table (``journal/alerts.py``) until sent.
"""
