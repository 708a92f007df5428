"""Global concurrency and rate limits, shared by every process that shares the store.

``runnel.concurrency.sync`` and ``runnel.concurrency.asyncio`` hold the same two calls:
``concurrency(names, ...)`` holds slots for a block, ``rate_limit(names, ...)`` takes slots
that free themselves at the limit's ``slot_decay_per_second``. The decisions are in
``runnel.limits`` and the store; these modules only wait and retry.
"""
