"""The web console: server-rendered pages over the same use cases and reports as the API.

Nothing here holds a domain rule. Pages read through ``supplies.reports``, ``dispatch.reports``
and the services; form posts call the same use cases as the API routes, inside one
``Database.write`` transaction each. Only ``relief.app.main`` imports this package.
"""
