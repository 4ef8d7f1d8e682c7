"""Where a board socket's guard travels: the key of the /ws request's environ that holds it.

The login (accounts) puts a guard there; the board socket (feed) asks it before every write.
What a guard answers is described by feed/board/stream.py's `Unguarded`.
"""

GUARD = "board.guard"
