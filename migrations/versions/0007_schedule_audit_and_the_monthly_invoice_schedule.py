"""schedules count periods from an instant; their audit trail; the ready monthly invoice schedule

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

# Invoices the previous month's uninvoiced orders on the 1st at 02:00 Madrid time; off until an
# operator resumes it (README, "Recurring jobs").
MONTHLY_INVOICES = {
    'name': 'monthly-invoices', 'kind': 'invoice.batch', 'rule': '0 2 1 * *', 'timezone': 'Europe/Madrid',
    'params': {'period_start': '${previous_month_start}', 'period_end': '${previous_month_end}',
               'send_email': True},
    'enabled': False, 'overlap': 'skip', 'catch_up': 'latest', 'deadline_s': None,
}


def upgrade() -> None:
    with op.batch_alter_table('schedules') as batch:
        batch.add_column(sa.Column('counts_from', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE schedules SET counts_from = created_at')
    with op.batch_alter_table('schedules') as batch:
        batch.alter_column('counts_from', existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table('schedule_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('schedule_name', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('detail', JSON, nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=True),
    sa.Column('via', sa.String(length=128), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_schedule_audit_schedule_id'), 'schedule_audit', ['schedule_id'], unique=False)
    schedules = sa.table('schedules', sa.column('params', JSON),
                         *(sa.column(name) for name in (*MONTHLY_INVOICES, 'created_at', 'counts_from')
                           if name != 'params'))
    taken = op.get_bind().scalar(sa.select(sa.func.count()).select_from(schedules)
                                 .where(schedules.c.name == MONTHLY_INVOICES['name']))
    if not taken:  # an operator's own schedule of that name stays as it is
        now = datetime.now(UTC)
        op.bulk_insert(schedules, [{**MONTHLY_INVOICES, 'created_at': now, 'counts_from': now}])


def downgrade() -> None:
    op.execute("DELETE FROM schedules WHERE name = 'monthly-invoices'")
    op.drop_index(op.f('ix_schedule_audit_schedule_id'), table_name='schedule_audit')
    op.drop_table('schedule_audit')
    with op.batch_alter_table('schedules') as batch:
        batch.drop_column('counts_from')
