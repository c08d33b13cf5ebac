"""The plan of a statement: one small class per shape, each with its own ``execute`` against the session's
``Runner`` (the idea of Vitess's engine primitives). The planner (``dbproxy.planner``) builds them once per
distinct statement; adding a kind of statement means adding a class here and the planner's branch that builds it.

- ``base``: ``Plan`` (what every plan has: parameters, the grant it needs) and ``Routed`` (runs on backends)
- ``route``: a statement routed to the nodes its shard condition picks (``Route``), DDL (``Ddl``), a write to
  every copy of a broadcast table (``BroadcastWrite``)
- ``explain``: EXPLAIN on each node the statement would run on
- ``system``: information_schema and SHOW answers, physical names made logical
- ``insert``: INSERT into a sharded table, rows split by shard key
- ``transaction``: BEGIN, COMMIT, ROLLBACK
- ``settings``: SET and USE
- ``catalog``: the logical databases and tables (SHOW DATABASES, SHOW TABLES, DROP DATABASE), statements any
  backend answers
- ``session_info``: answers about sessions (DATABASE(), USER(), SHOW GRANTS, SHOW PROCESSLIST, KILL)
"""
