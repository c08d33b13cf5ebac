"""Planning: each distinct statement, read and checked once, becomes one of the executor's plan classes
(``dbproxy/executor/plans/``). The analysis it builds on (tokens, conditions, renames, scatter rewrites, access
checks) is ``dbproxy.router``'s.

- ``planner``: ``Planner``, which dispatches on the statement's first word
- ``text``: reading a statement (first word, tokens, parse) and the checks on its text
- ``session``: BEGIN, SET, SET STATEMENT ... FOR, KILL
- ``show``: SHOW, DESCRIBE, EXPLAIN
- ``databases``: CREATE/DROP DATABASE of logical databases
- ``opaque``: statements the proxy cannot analyse (sent to the default backend), maintenance statements
- ``parsed``: statements sqlglot parses: tables, shard conditions, per-node statements, merges
- ``local_select``: SELECT DATABASE(), USER() ... answered by the proxy
- ``inserts``: INSERT into a sharded table
"""
