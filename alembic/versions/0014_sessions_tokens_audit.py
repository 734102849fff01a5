"""console sessions of their own; token expiry, rotation and unique names; audit events by depot

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 11:30:00

Tokens: names become unique among unrevoked tokens (a partial unique index). A database where
two unrevoked tokens share a name keeps the oldest under that name and renames the others to
``<name> #<id>`` (the renaming is printed), so no token stops working.

Audit events get the depot they concern: filled here from what the earlier events recorded
(``depot`` rows by their code; lot quality changes by ``details.depot``).
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename_duplicate_names() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, name FROM api_token WHERE revoked_at IS NULL ORDER BY name, id")).all()
    seen: set[str] = set()
    for token_id, name in rows:
        if name not in seen:
            seen.add(name)
            continue
        new_name = f"{name} #{token_id}"[:120]
        print(f"api_token {token_id}: name {name!r} is taken; renamed to {new_name!r}")
        bind.execute(sa.text("UPDATE api_token SET name = :name WHERE id = :id"),
                     {"name": new_name, "id": token_id})


def _fill_audit_depots() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE audit_event SET depot = entity_id WHERE entity = 'depot'"))
    rows = bind.execute(sa.text(
        "SELECT id, details FROM audit_event WHERE depot IS NULL AND entity = 'lot'")).all()
    for event_id, details in rows:
        data = json.loads(details) if isinstance(details, str) else details
        depot = (data or {}).get("depot")
        if isinstance(depot, str):
            bind.execute(sa.text("UPDATE audit_event SET depot = :depot WHERE id = :id"),
                         {"depot": depot[:32], "id": event_id})


def upgrade() -> None:
    with op.batch_alter_table('api_token', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rotated_from', sa.Integer(), nullable=True))
    _rename_duplicate_names()
    op.create_index('uq_api_token_active_name', 'api_token', ['name'], unique=True,
                    sqlite_where=sa.text('revoked_at IS NULL'),
                    postgresql_where=sa.text('revoked_at IS NULL'))

    op.create_table('console_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=120), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['token_id'], ['api_token.id'],
                            name=op.f('fk_console_session_token_id_api_token')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_session')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_console_session_session_hash'))
    )
    with op.batch_alter_table('console_session', schema=None, recreate="never") as batch_op:
        batch_op.create_index(batch_op.f('ix_console_session_token_id'), ['token_id'],
                              unique=False)

    with op.batch_alter_table('audit_event', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('depot', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_audit_event_depot_at', ['depot', 'at'], unique=False)
    _fill_audit_depots()


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None, recreate="never") as batch_op:
        batch_op.drop_index('ix_audit_event_depot_at')
        batch_op.drop_column('depot')
    with op.batch_alter_table('console_session', schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_session_token_id'))
    op.drop_table('console_session')
    op.drop_index('uq_api_token_active_name', table_name='api_token')
    with op.batch_alter_table('api_token', schema=None, recreate="never") as batch_op:
        batch_op.drop_column('rotated_from')
        batch_op.drop_column('expires_at')
