"""Live commerce: products, cards, flash sales, orders. ``rules`` is plain code, no I/O."""
