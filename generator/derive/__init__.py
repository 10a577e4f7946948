"""Datasets derived from a run: preference pairs (``pairs``) and evaluation sets (``evalset``).

Both are stages over a run folder like curation: they read the run's journal (documents,
chunks, generated records, review decisions), make their model calls through the judge
machinery (``curate/judge.py``: journaled by request hash, retries, limiter, circuit breaker,
cross-run call cache), journal every answer and item they make with the model that made it
(``store.py``: the ``kind_records`` table the licence gate reads, apart from ``gen_records``
so no derived answer is ever healed into ``records.jsonl``), and write
``RUN/pairs/`` or ``RUN/eval/`` (``records.jsonl``, ``review.jsonl`` for findings,
``report.json``).
"""

KIND_COMMANDS = {"preference": "pairs", "eval": "evalset"}
