"""operations at scale: driver phone per shipment; sheltered flag and contact of affected
sites; why a stop got less than planned and how much came back damaged

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shipment", sa.Column("driver_phone", sa.String(length=40), nullable=True))
    op.add_column("affected_site", sa.Column("sheltered", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.add_column("affected_site", sa.Column("contact", sa.String(length=120), nullable=True))
    op.add_column("affected_site", sa.Column("contact_phone", sa.String(length=40),
                                             nullable=True))
    # Seeded shelters (避难场所) were the only sheltered sites so far.
    op.execute("UPDATE affected_site SET sheltered = TRUE WHERE kind = 'shelter'")
    op.add_column("stop_line", sa.Column("short_reason", sa.String(length=20), nullable=True))
    op.add_column("stop_line", sa.Column("damaged", sa.Integer(), nullable=False,
                                         server_default="0"))
    op.add_column("shipment_lot", sa.Column("damaged", sa.Integer(), nullable=False,
                                            server_default="0"))


def downgrade() -> None:
    for table, column in (("shipment_lot", "damaged"), ("stop_line", "damaged"),
                          ("stop_line", "short_reason"), ("affected_site", "contact_phone"),
                          ("affected_site", "contact"), ("affected_site", "sheltered"),
                          ("shipment", "driver_phone")):
        op.drop_column(table, column)  # plain DROP COLUMN: no table rebuild
