"""Who may do what: hosts, operators and their tokens (kept as digests), and rooms with
their stream keys (store). Owns the Redis keys ``host:{id}``, ``token:*``, ``optoken:*``,
``operator:{id}``, ``room:{id}`` and ``host:{id}:rooms``.

May import: server.platform.
"""
