"""Connections to the backend MySQL servers and their pools (below the XA commit and the executor)."""
