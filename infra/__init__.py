"""Plumbing every feature may use and none owns: a Redis client, the gevent worker's waits.

It imports no feature (accounts, feed, ops, wallet): they import it.
"""
