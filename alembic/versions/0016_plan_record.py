"""plan record: the vehicle map of a plan (engine vehicle unit -> plate and vehicle id)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dispatch_plan", sa.Column("vehicles", sa.JSON(), nullable=True))
    # Plans made before: the engine named the k-th unit of scenario vehicle V "V#k" and every
    # live scenario vehicle is one plate (docs/planning.md, vehicle expansion).
    bind = op.get_bind()
    plans = sa.table("dispatch_plan", sa.column("id", sa.Integer),
                     sa.column("scenario", sa.JSON), sa.column("vehicles", sa.JSON))
    vehicle = sa.table("vehicle", sa.column("id", sa.Integer), sa.column("plate", sa.String))
    ids = dict(bind.execute(sa.select(vehicle.c.plate, vehicle.c.id)).all())
    for plan_id, scenario in bind.execute(sa.select(plans.c.id, plans.c.scenario).where(
            plans.c.scenario.is_not(None))).all():
        units = {}
        for v in (scenario or {}).get("vehicles", []):
            for k in range(1, int(v.get("count", 1)) + 1):
                unit = f"{v['id']}#{k}"
                units[unit] = {"unit": unit, "plate": v["id"], "vehicle_id": ids.get(v["id"])}
        bind.execute(plans.update().where(plans.c.id == plan_id).values(vehicles=units))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35 has it): a batch rebuild of dispatch_plan would trip
    # the foreign keys of the shipments referring to it.
    op.drop_column("dispatch_plan", "vehicles")
