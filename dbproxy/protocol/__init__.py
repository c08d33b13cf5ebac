"""MySQL client/server wire protocol: framing, packets, values (shared by the frontend and the backend client)."""
