"""domain events ride the outbox (their CloudEvent in outbox_messages.event); a job started by another
job's event names it (jobs.caused_by)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages') as batch:
        batch.add_column(sa.Column('event', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                    'postgresql'), nullable=True))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('caused_by', sa.Uuid(), nullable=True))
        batch.create_foreign_key('fk_jobs_caused_by', 'jobs', ['caused_by'], ['id'], ondelete='SET NULL')
        batch.create_index('ix_jobs_caused_by', ['caused_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_caused_by')
        batch.drop_constraint('fk_jobs_caused_by', type_='foreignkey')
        batch.drop_column('caused_by')
    with op.batch_alter_table('outbox_messages') as batch:
        batch.drop_column('event')
