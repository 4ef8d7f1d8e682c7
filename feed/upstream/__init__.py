"""Upstream bytes to frames: the feed's client, its wire format and the simulated feed."""
