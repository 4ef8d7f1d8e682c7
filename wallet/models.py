"""The wallet's tables: accounts, the append-only ledger, bets and event payouts.

Amounts are integer ten-thousandths (see formats.UNITS). The database itself enforces what must
never happen: a txId moving money twice for one kind of operation, a negative credit, or a balance
that is not real + free.
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database import UTCDateTime, db


class Account(db.Model):
    __tablename__ = "wallet_accounts"
    __table_args__ = (
        CheckConstraint("real_credit >= 0", name="real_credit_not_negative"),
        CheckConstraint("free_credit >= 0", name="free_credit_not_negative"),
        CheckConstraint("balance = real_credit + free_credit", name="balance_is_real_plus_free"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(50), unique=True)
    real_credit: Mapped[int] = mapped_column(BigInteger, default=0)
    free_credit: Mapped[int] = mapped_column(BigInteger, default=0)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(db.Model):
    """One balance change. Rows are only ever inserted."""

    __tablename__ = "wallet_ledger"
    __table_args__ = (UniqueConstraint("kind", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("wallet_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # deposit, bet, cancel, settle, event_settle
    reference: Mapped[str] = mapped_column(String(64))  # txId, settleId or a deposit's own id
    real_delta: Mapped[int] = mapped_column(BigInteger)
    free_delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Bet(db.Model):
    """A txId's life: placed, then cancelled or settled.

    A cancel that arrives for a txId never seen leaves a tombstone: a cancelled bet with no amount,
    so the place_bet that may still arrive for it is refused.
    """

    __tablename__ = "wallet_bets"
    __table_args__ = (
        CheckConstraint("state IN ('placed', 'cancelled', 'settled')", name="state_known"),
    )

    tx_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(10))
    round_id: Mapped[str | None] = mapped_column(String(20))
    table_id: Mapped[str | None] = mapped_column(String(50))
    game_type: Mapped[str] = mapped_column(String(10))
    game_code: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(20))
    bet_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    amount: Mapped[int | None] = mapped_column(BigInteger)  # None: a tombstone
    real_amount: Mapped[int | None] = mapped_column(BigInteger)
    free_amount: Mapped[int | None] = mapped_column(BigInteger)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(30))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_bet_amount: Mapped[int | None] = mapped_column(BigInteger)
    win_amount: Mapped[int | None] = mapped_column(BigInteger)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventPayout(db.Model):
    """One item of an event_settle batch, credited once per settleId."""

    __tablename__ = "wallet_event_payouts"

    settle_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(60))
    user_id: Mapped[str] = mapped_column(String(50))
    amount: Mapped[int] = mapped_column(BigInteger)
    create_time: Mapped[datetime] = mapped_column(UTCDateTime)
    credited_at: Mapped[datetime] = mapped_column(UTCDateTime)
