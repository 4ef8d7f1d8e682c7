"""wallet: lock an account and read a bet in one round trip on PostgreSQL

Revision ID: 0003_wallet_lock_and_find
Revises: 0002_feed
Create Date: 2026-11-21 04:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003_wallet_lock_and_find'
down_revision = '0002_feed'
branch_labels = None
depends_on = None

# The two statements every money callback starts with, as wallet.ledger.lock_and_find runs them
# on other databases. Each statement of a PL/pgSQL function takes a snapshot of its own, so the
# bet is read after the account's lock is granted and sees what the lock's last holder committed.
LOCK_AND_FIND = """
CREATE FUNCTION wallet_lock_and_find(wanted_user_id varchar, wanted_tx_id varchar)
RETURNS TABLE (
    account_id integer,
    account_real_credit bigint,
    account_free_credit bigint,
    account_updated_at timestamp,
    tx_id varchar,
    user_id varchar,
    state varchar,
    round_id varchar,
    game_type varchar,
    game_code varchar,
    amount bigint,
    real_amount bigint,
    free_amount bigint,
    win_amount bigint
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT a.id, a.real_credit, a.free_credit, a.updated_at
      INTO account_id, account_real_credit, account_free_credit, account_updated_at
      FROM wallet_accounts AS a
     WHERE a.user_id = wanted_user_id
       FOR UPDATE;
    SELECT b.tx_id, b.user_id, b.state, b.round_id, b.game_type, b.game_code,
           b.amount, b.real_amount, b.free_amount, b.win_amount
      INTO tx_id, user_id, state, round_id, game_type, game_code,
           amount, real_amount, free_amount, win_amount
      FROM wallet_bets AS b
     WHERE b.tx_id = wanted_tx_id;
    RETURN NEXT;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LOCK_AND_FIND)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION wallet_lock_and_find(varchar, varchar)")
