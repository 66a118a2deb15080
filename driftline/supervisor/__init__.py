"""The supervisor's parts; worker.py's DriftWorker composes them and runs the loop.

`launcher` (the forkserver, job processes, kill and wait), `admission` (a claimed body up to its job process),
`outcomes` (a finished job: ack, retry, requeue or dead letter), `status` (mission-row writes and the Redis
outbox), `housekeeping` (heartbeat, reaping, sync, reconcile, sweeps), `startup` (waiting for the services),
`backoff` and `running` (a job process as the supervisor sees it).
"""
