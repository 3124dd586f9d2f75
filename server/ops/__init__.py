"""What operators and hosts see: per-session commerce and audience counters (counters),
the sampler that turns each live session's media and commerce figures into live figures,
series and reports, and the node's Prometheus metrics (metrics), and what handlers read
of them: live figures, series and reports (reports). Owns ``stats:*``,
``live:*``, ``series:*`` and ``report:*`` (live sessions are listed by vod's
``sessions:live``).

May import: server.platform, server.accounts, server.audience, server.commerce, server.vod.
"""
