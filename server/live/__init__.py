"""A running node and its live rooms: the objects one node shares (context), node
heartbeats and room claims (node), the broadcast lifecycle that starts, records, continues
and ends sessions (broadcasts), each viewer's data channel (channel), the room snapshot
(snapshot), the caps on WebRTC sessions (limits) and the reminders a host going live
sends its followers (reminders, through the providers in notices), and who watches each
room for how long, for giveaways (presence). Owns ``node:*``, ``room:{id}:live``,
``room:{id}:watch`` and ``room:{id}:seen``.

May import: every package below it (platform, accounts, audience, commerce, vod, ops) and
media/.
"""
