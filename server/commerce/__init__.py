"""Live commerce: products, cards, flash sales, buys and orders (service, store, the Lua
scripts every stock change runs in: lua), the records as stored, each with its decoder
(records), payment providers (payments) and the rules as plain code with no I/O (rules).
Owns ``product:*``, ``sale:*``, ``order:*``, the order indexes, ``reservations``,
``sales:schedule``, ``idem:*``, ``room:{id}:products``, ``room:{id}:pinned``,
``room:{id}:clickers`` and a viewer's ``:contact``.

May import: server.platform, server.accounts, server.audience, and media.tasks.
"""
