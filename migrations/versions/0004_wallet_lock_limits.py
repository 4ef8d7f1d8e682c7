"""wallet: the account lock bounded by the transaction's lock and statement timeouts

Revision ID: 0004_wallet_lock_limits
Revises: 0003_wallet_lock_and_find
Create Date: 2026-11-22 05:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004_wallet_lock_limits'
down_revision = '0003_wallet_lock_and_find'
branch_labels = None
depends_on = None

# wallet_lock_and_find with the transaction's time limits as arguments: it sets them, for the rest
# of the transaction, right before it waits for the account's lock. Set anywhere else they would
# cost a round trip of their own. A null txId reads no bet: every lock the wallet takes on
# PostgreSQL goes through here.
LOCK_AND_FIND = """
CREATE FUNCTION wallet_lock_and_find(
    wanted_user_id varchar, wanted_tx_id varchar, lock_ms integer, statement_ms integer
)
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
    PERFORM set_config('lock_timeout', lock_ms::text, true);
    PERFORM set_config('statement_timeout', statement_ms::text, true);
    SELECT a.id, a.real_credit, a.free_credit, a.updated_at
      INTO account_id, account_real_credit, account_free_credit, account_updated_at
      FROM wallet_accounts AS a
     WHERE a.user_id = wanted_user_id
       FOR UPDATE;
    IF wanted_tx_id IS NOT NULL THEN
        SELECT b.tx_id, b.user_id, b.state, b.round_id, b.game_type, b.game_code,
               b.amount, b.real_amount, b.free_amount, b.win_amount
          INTO tx_id, user_id, state, round_id, game_type, game_code,
               amount, real_amount, free_amount, win_amount
          FROM wallet_bets AS b
         WHERE b.tx_id = wanted_tx_id;
    END IF;
    RETURN NEXT;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION wallet_lock_and_find(varchar, varchar)")
        op.execute(LOCK_AND_FIND)


PREVIOUS = """
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


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION wallet_lock_and_find(varchar, varchar, integer, integer)")
        op.execute(PREVIOUS)
