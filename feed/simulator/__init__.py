"""A simulated upstream odds feed that speaks the real protocol over a real websocket (server.py).

`world.Simulator` is the feed's world, with no I/O and no clock of its own: three dozen matches of
football, basketball, tennis and ice hockey, each with its sport's markets (named, and put in
BetStop groups, by the shipped market descriptions), going from prematch to live to ended and
replaced by new fixtures. `advance(now)` returns every message due by `now` (milliseconds of
simulated time): for a seed, the same messages however often it is called.

What a trader sees:

- Matches in play move forward only: halves, quarters, periods or sets with their breaks, then
  ended (overtime, sudden death and penalties where the sport has them); scores only go up, at
  each sport's pace (a basketball game ends near 170 points, a tennis match at two sets).
- About one BetStop a second across the board, each from an incident of its sport (a possible
  goal, a possible card, a game point, a video review, ...), naming only groups that the match's
  markets have; then an odds change listing the lines it stopped as suspended, with the incident's
  `betstop_reason` (UOF's ids), and a few seconds later the odds that reopen them, after a goal
  or not. A half, quarter, period or set that ends stops and settles its own markets.
- Odds that follow the score and the clock (a simple model of each sport), moving all the time.
- Settlements: of a market when its result is known (the next goal, a total passed, a period),
  and of everything a few seconds after the match ends. A bet cancel every half minute or so, a
  fixture cancellation every two minutes or so, and a new fixture for each match that ends.
- Alives every 5 s, and now and then an outage (no alive for longer than the feed allows).
  Frames go out in both forms (text JSON and binary) and odds changes in both shapes. Every
  connected client gets every message, subscribed or not.
"""
