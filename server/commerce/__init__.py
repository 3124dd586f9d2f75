"""Live commerce: products, cards, flash sales, buys and orders (service, store, the Lua
scripts every stock change runs in: lua; a viewer's buy in one round trip: buying), the
catalogue with its variants and archive (catalogue over products), what hosts and viewers
are shown (views), stock events (stock), product photos (images: pure decoding; gallery:
their files and owners), the records as stored, each with its decoder (records), payment
providers (payments), the rules as plain code with no I/O (rules), live auctions and
giveaways (auctions over auction_scripts; giveaways; the winner's order: prizes), coupons
a host pushes and viewers claim (coupons over coupon_rules; the buy applies them) and the
delivery promise's overdue orders (delivery).
Owns ``product:*``, ``sale:*``, ``order:*``, the order indexes, ``reservations``,
``sales:schedule``, ``idem:*``, ``room:{id}:products``, ``room:{id}:pinned``,
``room:{id}:clickers``, ``image:*``, ``host:{id}:images``, a viewer's ``:contact``,
``auction:*``, ``auctions:due``, ``room:{id}:auction``, ``giveaway:*``,
``room:{id}:giveaways``, ``room:{id}:giveaway_keyword``, ``coupon:*``,
``room:{id}:coupons``, a viewer's ``:coupons``, ``ship_by``, ``host:{id}:ship_by`` and the
files in
``<data dir>/uploads``.

May import: server.platform, server.accounts, server.audience, and media.tasks.
"""
