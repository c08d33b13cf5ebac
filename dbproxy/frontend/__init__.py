"""The MySQL endpoint clients connect to: handshake, authentication, commands."""
