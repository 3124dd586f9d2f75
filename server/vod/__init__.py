"""Recorded sessions and what they become: the broadcast sessions store with timelines,
packaging jobs, classes, entitlements and positions (sessions), the packaging worker that
runs media.packager in a child process (packaging), signed replay URLs (signing), and
the session, job and class records as stored, each with its decoder (records).
Owns ``session:*``, ``sessions:*``, ``job:*``, ``class:*``, ``classes`` and a viewer's
``:classes``/``:positions``.

May import: server.platform, server.accounts, server.audience, server.commerce.
"""
