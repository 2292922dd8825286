"""Durable records in one SQLite file: runtime keys and teams, and the usage log.

- ``db``: opening the file (WAL, busy timeout) and its schema.
- ``keystore``: keys and teams created through the admin API (rows, versions, tombstones).
- ``refresh``: each worker's view of the key store: a refresher and the auth-miss lookup.
- ``usage``: the batched usage writer; ``report``: summaries of the usage log.
"""
