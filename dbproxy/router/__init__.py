"""Routing: sqlglot analysis of each distinct statement into a plan (targets, shard condition, merge)."""
