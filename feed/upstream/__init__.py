"""Upstream bytes to frames: the feed's client and its wire format."""
