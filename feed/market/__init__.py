"""Frames to applied changes: the market model and its rules, names, health, retention.

No I/O and no clock: each is passed in.
"""
