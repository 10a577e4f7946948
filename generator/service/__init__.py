"""The HTTP service (``instructforge serve``): the second front door over the same stages.

``app.py`` builds the FastAPI app, ``auth.py`` checks bearer tokens and role rights,
``db.py`` holds the tables and runs the Alembic migrations (``migrations/``), ``users.py``
and ``audit.py`` are the operations the CLI (``instructforge users``) and the API share,
``uploads.py`` turns uploaded files into a project's documents and calls the ingest stage,
and ``api/`` has one router per resource. Nothing here holds pipeline logic.
"""
