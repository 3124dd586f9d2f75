"""Who may do what: hosts, operators and their tokens (kept as digests), and rooms with
their stream keys (store). Owns the Redis keys ``host:{id}``, ``token:*``, ``optoken:*``,
``operator:{id}``, ``room:{id}`` and ``host:{id}:rooms``; follows and "remind me" asks
(follows), scheduled shows (shows, with their calendar file in calendar) and channels
(channels), whose keys docs/redis-keys.md lists.

May import: server.platform.
"""
