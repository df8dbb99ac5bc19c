"""Accounts of the API: users with roles, integrator keys with scopes, sessions, and their audit log.

* :mod:`api.accounts.principal`: roles, scopes and the :class:`Principal` a request acts as
* :mod:`api.accounts.passwords`: PBKDF2-SHA256 hashes, constant-time checks
* :mod:`api.accounts.limiter`: the login rate limit (pure, time passed in)
* :mod:`api.accounts.store`: the tables behind them (:class:`Accounts`), with their own migrations
"""
