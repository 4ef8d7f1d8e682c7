"""feed: what a BetStop hit, why, and when it reopened

Every column may be empty: rows logged before them have none of it, and read so (the entry's
`markets` and `still_stopped` null, not followed).

Revision ID: 0007_feed_bet_stop_reopening
Revises: 0006_feed_changed_at
Create Date: 2026-12-07 16:17:14.576569

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_feed_bet_stop_reopening'
down_revision = '0006_feed_changed_at'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('feed_bet_stops', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('betstop_reason', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('markets', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('stopped', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('reopened_lines', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_lines', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reopened_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('followed', sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feed_bet_stops_entry_id'), ['entry_id'], unique=True)


def downgrade():
    with op.batch_alter_table('feed_bet_stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_bet_stops_entry_id'))
        batch_op.drop_column('followed')
        batch_op.drop_column('reopened_at')
        batch_op.drop_column('closed_lines')
        batch_op.drop_column('reopened_lines')
        batch_op.drop_column('stopped')
        batch_op.drop_column('markets')
        batch_op.drop_column('betstop_reason')
        batch_op.drop_column('entry_id')
