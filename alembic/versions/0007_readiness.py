"""readiness: scenario library, runs, results, advice

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:59:51.682203

Tables of dispatch.readiness (docs/readiness.md): the scenario library (readiness_scenario and
its immutable readiness_scenario_version rows), readiness runs and their per-scenario results
(with the version they ran and the digest of the live inputs), and pre-positioning advice with
its draft orders.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('readiness_advice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', name='jobstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('phase', sa.String(length=80), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('evaluated_on', sa.Date(), nullable=False),
    sa.Column('objective', sa.JSON(), nullable=True),
    sa.Column('checks', sa.JSON(), nullable=True),
    sa.Column('requested_by', sa.String(length=120), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_advice'))
    )
    with op.batch_alter_table('readiness_advice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_advice_requested_at'), ['requested_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_advice_status'), ['status'], unique=False)

    op.create_table('readiness_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.Enum('on_demand', 'scheduled', name='trigger', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=True),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', name='jobstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('phase', sa.String(length=80), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('time_limit_s', sa.Float(), nullable=False),
    sa.Column('evaluated_on', sa.Date(), nullable=False),
    sa.Column('schedule_slot', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.String(length=120), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_run')),
    sa.UniqueConstraint('schedule_slot', name=op.f('uq_readiness_run_schedule_slot'))
    )
    with op.batch_alter_table('readiness_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_run_requested_at'), ['requested_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_run_status'), ['status'], unique=False)

    op.create_table('readiness_scenario',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('hazard', sa.Enum('typhoon', 'storm_surge', 'yangtze_flood', 'river_flood', 'earthquake', 'wind_hail', 'forest_fire', 'other', name='hazard', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_code'], ['division.code'], name=op.f('fk_readiness_scenario_county_code_division')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_scenario')),
    sa.UniqueConstraint('code', name=op.f('uq_readiness_scenario_code'))
    )
    with op.batch_alter_table('readiness_scenario', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_scenario_county_code'), ['county_code'], unique=False)

    op.create_table('readiness_advice_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('advice_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('transfer', 'rotation', 'purchase', 'agreement', name='orderkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('from_depot_id', sa.Integer(), nullable=True),
    sa.Column('to_depot_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('weight_kg', sa.Float(), nullable=False),
    sa.Column('volume_m3', sa.Float(), nullable=False),
    sa.Column('km', sa.Float(), nullable=True),
    sa.Column('state', sa.Enum('draft', 'accepted', 'declined', name='orderstate', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('transfer_ids', sa.JSON(), nullable=False),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_readiness_advice_order_quantity_positive')),
    sa.ForeignKeyConstraint(['advice_id'], ['readiness_advice.id'], name=op.f('fk_readiness_advice_order_advice_id_readiness_advice')),
    sa.ForeignKeyConstraint(['from_depot_id'], ['depot.id'], name=op.f('fk_readiness_advice_order_from_depot_id_depot')),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_readiness_advice_order_item_id_item')),
    sa.ForeignKeyConstraint(['to_depot_id'], ['depot.id'], name=op.f('fk_readiness_advice_order_to_depot_id_depot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_advice_order')),
    sa.UniqueConstraint('advice_id', 'seq', name=op.f('uq_readiness_advice_order_advice_id_seq'))
    )
    with op.batch_alter_table('readiness_advice_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_advice_order_advice_id'), ['advice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_advice_order_to_depot_id'), ['to_depot_id'], unique=False)

    op.create_table('readiness_scenario_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('townships', sa.JSON(), nullable=False),
    sa.Column('displaced_share', sa.Float(), nullable=False),
    sa.Column('displaced_basis', sa.Enum('cited', 'derived', 'assumption', name='displaced_basis', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('displaced_source', sa.String(length=2000), nullable=False),
    sa.Column('sheltered_share', sa.Float(), nullable=False),
    sa.Column('sheltered_basis', sa.Enum('cited', 'derived', 'assumption', name='sheltered_basis', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('sheltered_source', sa.String(length=2000), nullable=False),
    sa.Column('townships_source', sa.String(length=2000), nullable=False),
    sa.Column('deadline_hours', sa.Float(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('deadline_hours > 0', name=op.f('ck_readiness_scenario_version_deadline')),
    sa.CheckConstraint('displaced_share > 0 AND displaced_share <= 1', name=op.f('ck_readiness_scenario_version_displaced')),
    sa.CheckConstraint('sheltered_share >= 0 AND sheltered_share <= 1', name=op.f('ck_readiness_scenario_version_sheltered')),
    sa.ForeignKeyConstraint(['scenario_id'], ['readiness_scenario.id'], name=op.f('fk_readiness_scenario_version_scenario_id_readiness_scenario')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_scenario_version')),
    sa.UniqueConstraint('scenario_id', 'version', name=op.f('uq_readiness_scenario_version_scenario_id_version'))
    )
    with op.batch_alter_table('readiness_scenario_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_scenario_version_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('readiness_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('hazard', sa.Enum('typhoon', 'storm_surge', 'yangtze_flood', 'river_flood', 'earthquake', 'wind_hail', 'forest_fire', 'other', name='hazard', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('people_covered', sa.Integer(), nullable=False),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.Column('bound_coverage', sa.Float(), nullable=True),
    sa.Column('baseline_coverage', sa.Float(), nullable=True),
    sa.Column('fill_rate', sa.Float(), nullable=False),
    sa.Column('engine_status', sa.String(length=40), nullable=False),
    sa.Column('checker_ok', sa.Boolean(), nullable=False),
    sa.Column('solve_s', sa.Float(), nullable=False),
    sa.Column('inputs_digest', sa.String(length=64), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('binding', sa.JSON(), nullable=True),
    sa.Column('gaps', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['readiness_run.id'], name=op.f('fk_readiness_result_run_id_readiness_run')),
    sa.ForeignKeyConstraint(['scenario_id'], ['readiness_scenario.id'], name=op.f('fk_readiness_result_scenario_id_readiness_scenario')),
    sa.ForeignKeyConstraint(['version_id'], ['readiness_scenario_version.id'], name=op.f('fk_readiness_result_version_id_readiness_scenario_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readiness_result')),
    sa.UniqueConstraint('run_id', 'scenario_id', name=op.f('uq_readiness_result_run_id_scenario_id'))
    )
    with op.batch_alter_table('readiness_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readiness_result_county_code'), ['county_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_result_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_result_inputs_digest'), ['inputs_digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_result_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_readiness_result_scenario_id'), ['scenario_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('readiness_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_result_scenario_id'))
        batch_op.drop_index(batch_op.f('ix_readiness_result_run_id'))
        batch_op.drop_index(batch_op.f('ix_readiness_result_inputs_digest'))
        batch_op.drop_index(batch_op.f('ix_readiness_result_created_at'))
        batch_op.drop_index(batch_op.f('ix_readiness_result_county_code'))

    op.drop_table('readiness_result')
    with op.batch_alter_table('readiness_scenario_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_scenario_version_scenario_id'))

    op.drop_table('readiness_scenario_version')
    with op.batch_alter_table('readiness_advice_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_advice_order_to_depot_id'))
        batch_op.drop_index(batch_op.f('ix_readiness_advice_order_advice_id'))

    op.drop_table('readiness_advice_order')
    with op.batch_alter_table('readiness_scenario', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_scenario_county_code'))

    op.drop_table('readiness_scenario')
    with op.batch_alter_table('readiness_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_run_status'))
        batch_op.drop_index(batch_op.f('ix_readiness_run_requested_at'))

    op.drop_table('readiness_run')
    with op.batch_alter_table('readiness_advice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readiness_advice_status'))
        batch_op.drop_index(batch_op.f('ix_readiness_advice_requested_at'))

    op.drop_table('readiness_advice')
