"""What every other package stands on: configuration (config), structured logs with
redaction (logs), the private redis-server (redis_server), pipelined reads (batch), text
and strict JSON at the edge (text, wire), rule and storage errors (errors), typed-record
decoding (records), Redis-backed and local rate limits (ratelimit) and the room event bus
over Redis pub/sub (events).

Owns no domain and no Redis key family but the event bus's (``room:{id}:seq`` and its
channels) and the rate limits' (``rl:*``). May import: the standard library and third-party
packages only, never another package of server/.
"""
