"""The resident registry: residents, face templates, vehicles, visitors, watchlist; 1:N matching.

Public API (import from the modules; this package imports nothing heavy so the CLI stays fast):

* :class:`registry.service.Registry`: ``Registry.open()``, CRUD, ``enroll``, ``match_faces``,
  ``match_plate``, ``delete_resident``, ``purge_expired_visitors``, ``rotate_key``, ``reembed``;
  a facade over its parts :mod:`registry.people`, :mod:`registry.vehicles`,
  :mod:`registry.templates` and :mod:`registry.matcher`, which share :mod:`registry.changes`
* :class:`registry.config.RegistrySettings`: ``ESTATEWATCH_*`` settings
* result types in :mod:`registry.types` (``FaceMatch``, ``Owner``) and :mod:`registry.plates`
  (``PlateMatch``)
"""
