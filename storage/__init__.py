"""Storage at the bottom of every stage: database engines and the files under the data directory.

* :mod:`storage.db`: engines for SQLite (WAL, secure delete) or PostgreSQL, the constraint naming
  convention of every schema, the default database URL
* :mod:`storage.files`: the data directory and atomic file writes

It imports no other Estatewatch package, so ``models``, ``registry`` and ``alarms`` can all use it.
"""
