"""Every table of every domain, registered on one metadata (for Alembic and the schema check).

This is composition-root wiring: the platform modules (settings, db, auth) never import it.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import dispatch.models
import dispatch.readiness.models  # noqa: F401  (registers the readiness tables)
import exchange.models  # noqa: F401  (registers the provincial exchange tables)
import relief.platform.models  # noqa: F401  (registers the platform tables)
import supplies.models  # noqa: F401  (registers the inventory tables)

metadata = SQLModel.metadata
