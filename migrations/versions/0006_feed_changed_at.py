"""feed: when each event and line was last written, for pruning

Revision ID: 0006_feed_changed_at
Revises: 0005_users
Create Date: 2026-11-22 04:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_feed_changed_at'
down_revision = '0005_users'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('feed_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feed_events_changed_at'), ['changed_at'], unique=False)

    with op.batch_alter_table('feed_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feed_lines_changed_at'), ['changed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('feed_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_lines_changed_at'))
        batch_op.drop_column('changed_at')

    with op.batch_alter_table('feed_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_events_changed_at'))
        batch_op.drop_column('changed_at')
