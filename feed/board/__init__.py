"""The boards: the snapshot, the hub, each board's socket (its only writer) and the views."""
