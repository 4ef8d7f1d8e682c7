"""The ledger audit: every account, bet and payout checked against the entries that moved money.

What each bet and payout calls for follows from the money rules (ledger.py): a placed bet one
debit of its split; a cancelled one that debit and a refund of the same split; a settled one the
debit and a credit of its win; a tombstone nothing; a payout one credit of its amount. Every entry
belongs to one of them or is a deposit, and each account's entries, in the order they were
written, add up to every balance_after they report and to the account's credit.

Apart from those checks, the payouts no bet stands behind are listed, not counted as problems.
"""

from itertools import groupby

from sqlalchemy import func, select

from .formats import format_amount
from .models import Account, Bet, EventPayout, LedgerEntry

ACCOUNTS = Account.__table__
LEDGER = LedgerEntry.__table__
BETS = Bet.__table__
PAYOUTS = EventPayout.__table__
BET_KINDS = ("bet", "cancel", "settle")
PAYOUT_KIND = "event_settle"
WITHOUT_A_BET = "event_settle payouts with no bet of their player"


def find_problems(session):
    """Return one line per broken invariant; none when the books are consistent."""
    return [
        *_accounts_against_their_entries(session),
        *_bets_against_their_entries(session),
        *_payouts_against_their_entries(session),
        *_entries_of_nothing(session),
        *_balance_chains(session),
    ]


def payouts_without_a_bet(session):
    """Return one line per user paid by event payouts with no bet of that user behind them
    (their count and sum), and one line for them all; none when there are none."""
    # The provider allows payouts of no bet ("optional batch payouts"), so they are no problem;
    # but a payout with a made-up settleId credits as much, and must not pass unseen. One is
    # behind a bet when its settleId is the txId of a bet its own user placed (a cancel's
    # tombstone placed nothing).
    behind = (
        (BETS.c.tx_id == PAYOUTS.c.settle_id)
        & (BETS.c.user_id == PAYOUTS.c.user_id)
        & BETS.c.amount.is_not(None)
    )
    rows = session.execute(
        select(PAYOUTS.c.user_id, func.count(), func.sum(PAYOUTS.c.amount))
        .select_from(PAYOUTS.outerjoin(BETS, behind))
        .where(BETS.c.tx_id.is_(None))
        .group_by(PAYOUTS.c.user_id)
        .order_by(PAYOUTS.c.user_id)
    ).all()
    if not rows:
        return []
    count, units = sum(row[1] for row in rows), sum(int(row[2]) for row in rows)
    return [
        *(f"{WITHOUT_A_BET}: {user} {n} for {format_amount(int(paid))}" for user, n, paid in rows),
        f"{WITHOUT_A_BET}: {count} for {format_amount(units)} in all",
    ]


def _movement(user_id, real, free):
    return f"real {format_amount(real)} free {format_amount(free)} on {user_id}"


def _compare(subject, kind, found, expected, calls_for):
    """Lines for one entry of `kind`: `found` and `expected` are (user_id, real, free) or None."""
    if found == expected:
        return []
    if expected is None:
        return [
            f"{subject}: a {kind} entry ({_movement(*found)}), which {calls_for} does not call for"
        ]
    if found is None:
        return [f"{subject}: no {kind} entry; {calls_for} calls for {_movement(*expected)}"]
    return [
        f"{subject}: its {kind} entry moves {_movement(*found)}; "
        f"{calls_for} calls for {_movement(*expected)}"
    ]


def _accounts_against_their_entries(session):
    sums = (
        select(
            LEDGER.c.account_id,
            func.sum(LEDGER.c.real_delta).label("real"),
            func.sum(LEDGER.c.free_delta).label("free"),
        )
        .group_by(LEDGER.c.account_id)
        .subquery()
    )
    rows = session.execute(
        select(ACCOUNTS, sums.c.real, sums.c.free)
        .outerjoin(sums, sums.c.account_id == ACCOUNTS.c.id)
        .order_by(ACCOUNTS.c.user_id)
    )
    for account in rows:
        real, free = account.real or 0, account.free or 0
        if (real, free) != (account.real_credit, account.free_credit):
            yield (
                f"{account.user_id}: ledger sums to real {format_amount(real)} free "
                f"{format_amount(free)}, account holds real {format_amount(account.real_credit)} "
                f"free {format_amount(account.free_credit)}"
            )
        if account.balance != account.real_credit + account.free_credit:
            yield f"{account.user_id}: balance is not real + free"
        if min(account.real_credit, account.free_credit) < 0:
            yield f"{account.user_id}: negative credit"


def _with_entries(table, reference, kinds):
    """`table` joined to its entry of each kind (and that entry's account): (from, columns)."""
    joined, columns = table, []
    for kind in kinds:
        entry, owner = LEDGER.alias(f"{kind}_entry"), ACCOUNTS.alias(f"{kind}_owner")
        joined = joined.outerjoin(
            entry, (entry.c.kind == kind) & (entry.c.reference == reference)
        ).outerjoin(owner, owner.c.id == entry.c.account_id)
        columns += [
            entry.c.id.label(f"{kind}_id"),
            owner.c.user_id.label(f"{kind}_user"),
            entry.c.real_delta.label(f"{kind}_real"),
            entry.c.free_delta.label(f"{kind}_free"),
        ]
    return joined, columns


def _found(row, kind):
    if getattr(row, f"{kind}_id") is None:
        return None
    return getattr(row, f"{kind}_user"), getattr(row, f"{kind}_real"), getattr(row, f"{kind}_free")


def _bets_against_their_entries(session):
    joined, columns = _with_entries(BETS, BETS.c.tx_id, BET_KINDS)
    rows = session.execute(select(BETS, *columns).select_from(joined).order_by(BETS.c.tx_id))
    for bet in rows:
        subject = f"txId {bet.tx_id}"
        real, free = bet.real_amount or 0, bet.free_amount or 0
        if bet.amount is not None and bet.amount != real + free:
            yield (
                f"{subject}: amount {format_amount(bet.amount)} is not real "
                f"{format_amount(real)} + free {format_amount(free)}"
            )
        expected = _called_for(bet, real, free)
        state = "cancelled before it was placed" if bet.amount is None else bet.state
        for kind in BET_KINDS:
            yield from _compare(
                subject, kind, _found(bet, kind), expected.get(kind), f"the bet ({state})"
            )


def _called_for(bet, real, free):
    """The entries a bet calls for, by kind: (user_id, real, free)."""
    if bet.amount is None:  # a tombstone moved nothing
        return {}
    expected = {"bet": (bet.user_id, -real, -free)}
    if bet.state == "cancelled":
        expected["cancel"] = (bet.user_id, real, free)
    elif bet.state == "settled":
        expected["settle"] = (bet.user_id, bet.win_amount or 0, 0)
    return expected


def _payouts_against_their_entries(session):
    joined, columns = _with_entries(PAYOUTS, PAYOUTS.c.settle_id, (PAYOUT_KIND,))
    rows = session.execute(
        select(PAYOUTS, *columns).select_from(joined).order_by(PAYOUTS.c.settle_id)
    )
    for payout in rows:
        yield from _compare(
            f"settleId {payout.settle_id}",
            PAYOUT_KIND,
            _found(payout, PAYOUT_KIND),
            (payout.user_id, payout.amount, 0),
            "the payout",
        )


def _entries_of_nothing(session):
    """Entries whose bet or payout does not exist, and entries of no known kind."""
    owner = ACCOUNTS.alias("owner")
    rows = session.execute(
        select(LEDGER, owner.c.user_id)
        .join(owner, owner.c.id == LEDGER.c.account_id)
        .outerjoin(BETS, BETS.c.tx_id == LEDGER.c.reference)
        .outerjoin(PAYOUTS, PAYOUTS.c.settle_id == LEDGER.c.reference)
        .where(LEDGER.c.kind != "deposit")
        .order_by(LEDGER.c.id)
        .add_columns(BETS.c.tx_id.label("bet"), PAYOUTS.c.settle_id.label("payout"))
    )
    for entry in rows:
        movement = _movement(entry.user_id, entry.real_delta, entry.free_delta)
        if entry.kind in BET_KINDS and entry.bet is None:
            yield f"{entry.kind} entry {entry.reference} ({movement}) belongs to no bet"
        elif entry.kind == PAYOUT_KIND and entry.payout is None:
            yield f"{entry.kind} entry {entry.reference} ({movement}) belongs to no payout"
        elif entry.kind not in (*BET_KINDS, PAYOUT_KIND):
            yield f"entry {entry.id} is of no known kind: {entry.kind!r}"


def _balance_chains(session):
    """Each entry's balance_after against the sum of its account's entries up to it."""
    rows = session.execute(
        select(
            LEDGER.c.id,
            LEDGER.c.real_delta,
            LEDGER.c.free_delta,
            LEDGER.c.balance_after,
            ACCOUNTS.c.user_id,
        )
        .join(ACCOUNTS, ACCOUNTS.c.id == LEDGER.c.account_id)
        .order_by(ACCOUNTS.c.user_id, LEDGER.c.id)
    )
    for user_id, entries in groupby(rows, key=lambda entry: entry.user_id):
        balance = 0
        for entry in entries:
            balance += entry.real_delta + entry.free_delta
            if entry.balance_after != balance:
                yield (
                    f"{user_id}: entry {entry.id} says balance_after "
                    f"{format_amount(entry.balance_after)}; the entries up to it sum to "
                    f"{format_amount(balance)}"
                )
