"""Stallcast's WebRTC media plane: forwards RTP, never decodes it on the live path."""
