"""HTTP and nothing else: the request plumbing (http: errors, bodies, tokens, CORS,
security headers), the guarded connection runner (serving), and thin handlers that parse,
authorize and call a service: rooms, WHIP/WHEP signalling, the shop, viewers' buys and chat,
classes, operator views, and the OpenAPI document. Handlers own no Redis key.

May import: every package below it and media/.
"""
