-- Cross-shard two-row transfers for `txc bench proxy` (sysbench 1.0 custom workload).
-- Through the proxy (--second-db empty): one client transaction updating a row on each shard of `acct`
-- (even ids on shard 0, odd on shard 1), atomic through XA. Directly (--second-db set): the same two
-- updates as one local transaction per shard database, one after the other, with no atomicity: the baseline.

sysbench.cmdline.options = {
  rows = {"rows per shard", 10000},
  second_db = {"direct mode: the database of shard 1 (the connection's own database is shard 0)", ""},
  -- accepted so that the oltp workloads' common arguments can be passed unchanged
  tables = {"unused", 1},
  table_size = {"unused", 0},
}

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
  if sysbench.opt.second_db ~= "" then
    con2 = drv:connect()
    con2:query("USE " .. sysbench.opt.second_db)
  end
end

function thread_done()
  con:disconnect()
  if con2 then con2:disconnect() end
end

function event()
  local a = (sysbench.rand.uniform(0, sysbench.opt.rows - 1)) * 2
  local b = (sysbench.rand.uniform(0, sysbench.opt.rows - 1)) * 2 + 1
  if con2 == nil then
    con:query("BEGIN")
    con:query("UPDATE acct SET balance = balance - 1 WHERE id = " .. a)
    con:query("UPDATE acct SET balance = balance + 1 WHERE id = " .. b)
    con:query("COMMIT")
  else
    con:query("BEGIN")
    con:query("UPDATE acct_0 SET balance = balance - 1 WHERE id = " .. a)
    con:query("COMMIT")
    con2:query("BEGIN")
    con2:query("UPDATE acct_1 SET balance = balance + 1 WHERE id = " .. b)
    con2:query("COMMIT")
  end
end
