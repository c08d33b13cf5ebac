"""Backends: raw MySQL client connections, pools, and running plans over them."""
