"""What an operator reads of a player's account: its credit and its ledger, newest first."""

from sqlalchemy import func, select

from .models import Account, LedgerEntry

# The id each kind of entry keeps as its reference: the callback's own, except a deposit's,
# which is the wallet's and means nothing to anyone.
REFERENCE_NAMES = {
    "bet": "txId",
    "cancel": "txId",
    "settle": "txId",
    "event_settle": "settleId",
}


def find_account(session, user_id):
    """The user's Account, or None if the user has none."""
    return session.execute(select(Account).where(Account.user_id == user_id)).scalar_one_or_none()


def newest_entries(session, account, limit):
    """The account's `limit` newest ledger entries, newest first, and how many are older."""
    entries = (
        session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.account_id == account.id)
            # Ids go up in the order entries are written; two may share a time.
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
    total = session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == account.id)
    )
    return entries, total - len(entries)
