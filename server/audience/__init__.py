"""The people watching: anonymous signed viewer identities (viewers), chat and likes with
their limits and mutes (chat, rules). Owns ``stallcast:viewer_secret``, the identity salt,
``room:{id}:chat``, ``room:{id}:muted``, ``room:{id}:likes`` and the viewers' mint and
chat addresses.

May import: server.platform, server.accounts, and media.tasks.
"""
