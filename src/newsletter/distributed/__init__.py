"""The distributed mode: the same stages, called by Celery workers instead of one process.

``[queue] broker`` in newsletter.toml switches it on (with ``[state] url`` on PostgreSQL). A slot
is planned in the database (``slotstate``), one task per feed fetches and stores that feed, the
last fetch to finish enqueues the build, and the build enqueues sending in batches of
subscribers. Every effect is claimed in the database first, so a task delivered twice (Celery
delivers at least once) changes nothing the second time. Nothing here imports Celery unless a
command of the distributed mode runs.
"""
