"""Stallcast's server: HTTP API, WHIP/WHEP signalling, auth."""
