"""The people watching: anonymous signed viewer identities (viewers), chat and likes with
their limits and mutes (chat, rules), and buyer accounts: a phone proven by a texted code
(signin, sms) and what an identity's name and mutes become when it signs in (viewer_merge).
Owns ``stallcast:viewer_secret``, the identity salt, ``room:{id}:chat``,
``room:{id}:muted``, ``room:{id}:likes``, the viewers' mint and chat addresses,
``signin:*``, ``account:*``, ``merges:recent`` and a viewer's ``:account``,
``:merged_into`` and ``:muted_in``.

May import: server.platform, server.accounts, and media.tasks.
"""
