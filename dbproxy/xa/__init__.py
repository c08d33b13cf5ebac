"""Distributed commit of client transactions through the proxy: the XA statements, the branches a session
holds, the committers, the decision rows, recovery and the reports to the coordinator."""
