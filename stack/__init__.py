"""What runs the stack on one venue PC, beside the encoder and the workers.

up.py                   `surecast up`: children started in order, watched, stopped in reverse order
workers.py              the worker's app with its reconciler; one worker per destination, supervised together
scale.py                `surecast scale N`: compose replicas, or the running workers' pools
flower.py               Flower's command line and its login; flower_guard.py guards its routes
credentials.py          the stack's generated login (console, Flower, the player)
embedded_s3.py          the embedded S3 server (SeaweedFS): its command line and identities. Pure
embedded_s3_process.py  its keys, process and bucket
bucket_setup.py         CORS, lifecycle and public read on a bucket
reconciler.py           the reconciler: its round, election, finisher and loop, in a process beside every worker
"""
