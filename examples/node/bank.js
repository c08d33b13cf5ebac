// A txcoord TCC participant in Node.js, over HTTP/JSON: the demo bank (debit / credit with try, confirm,
// cancel) on PostgreSQL, with the participant-side barrier of docs/barrier.md, the branch-signature check and try
// receipts.
// It registers itself through the coordinator's REST API and keeps its lease alive.
//
//   node bank.js --service bank-b --db postgresql://... --coordinator http://127.0.0.1:8080 --accounts B=100
//
// Environment: TXC_BRANCH_KEY (the key shared with the coordinator; unset: calls are not verified),
// TXC_TOKEN (sent to the coordinator's REST API only, never accepted from callers).
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Pool } = require('pg');

// ---------------------------------------------------------------------------------------------- arguments
function parseArgs(argv) {
  const args = { listen: '127.0.0.1:0', ttl: 3, accounts: '', failRate: 0, poolSize: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_m, c) => c.toUpperCase());
    args[key] = argv[i + 1];
  }
  for (const needed of ['service', 'db', 'coordinator']) {
    if (!args[needed]) throw new Error(`--${needed} is required`);
  }
  args.ttl = Number(args.ttl);
  args.failRate = Number(args.failRate);
  return args;
}

// ---------------------------------------------------------------------------------------- branch signature
// HMAC-SHA256(key, len4(gid) gid len4(branch) branch len4(service) service len4(action) action
//                  SHA-256(canonical JSON of the arguments)), hex. See docs/barrier.md#signatures.
function canonicalJson(value) {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('not JSON: a non-finite number');
    return JSON.stringify(value);
  }
  if (typeof value === 'string') {
    // as Python's json.dumps(ensure_ascii=True): DEL and every non-ASCII UTF-16 unit as \uXXXX (lower-case hex)
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((k) => canonicalJson(k) + ':' + canonicalJson(value[k])).join(',') + '}';
}

function lengthPrefixed(text) {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function sign(key, gid, branchId, service, action, args) {
  const digest = crypto.createHash('sha256').update(canonicalJson(args), 'utf8').digest();
  const message = Buffer.concat([gid, branchId, service, action].map(lengthPrefixed).concat([digest]));
  return crypto.createHmac('sha256', key).update(message).digest('hex');
}

// A try that applied (or a repeat of one) answers with a receipt, the caller's proof for its commit:
// HMAC-SHA256(HMAC-SHA256(key, "txc try receipt"), len4(gid) gid len4(branch) branch), hex.
function receipt(key, gid, branchId) {
  const receiptKey = crypto.createHmac('sha256', key).update('txc try receipt').digest();
  return crypto.createHmac('sha256', receiptKey).update(Buffer.concat([gid, branchId].map(lengthPrefixed))).digest('hex');
}

function signatureRefusal(key, service, action, gid, branchId, signature, args) {
  if (!key) return null; // no key: not verified (loopback demo only)
  const where = `${service}.${action} of ${gid.slice(0, 40)}/${branchId.slice(0, 40)}`;
  if (!signature) return `${where}: unsigned call refused; only branches the coordinator registered are served`;
  let expected;
  try {
    expected = Buffer.from(sign(key, gid, branchId, service, action, args));
  } catch (_e) {
    return `${where}: bad branch signature refused (arguments that are not JSON)`;
  }
  const given = Buffer.from(String(signature));
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    return `${where}: bad branch signature refused (not registered by the coordinator, or TXC_BRANCH_KEY differs)`;
  }
  return null;
}

// ------------------------------------------------------------------------------------------------ barrier
const BARRIER_DDL = `
CREATE TABLE IF NOT EXISTS txc_barrier (
    gid        text NOT NULL,
    branch_id  text NOT NULL,
    op         text NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gid, branch_id, op),
    CONSTRAINT txc_barrier_op_check CHECK (op IN ('try', 'confirm', 'cancel'))
)`;
// a no-op DO UPDATE locks the row it finds; xmax = 0 only on a fresh insert
const CLAIM = `INSERT INTO txc_barrier AS b (gid, branch_id, op, reason) VALUES ($1, $2, $3, $4)
  ON CONFLICT (gid, branch_id, op) DO UPDATE SET reason = b.reason RETURNING (b.xmax = 0) AS inserted`;
const ROWS = 'SELECT op, reason FROM txc_barrier WHERE gid = $1 AND branch_id = $2 FOR UPDATE';

const TRY_NEVER_APPLIED = 'its try never applied';

// The decision table of docs/barrier.md: rows = {op: reason} before the call.
function decide(op, rows) {
  const state = rows.try === undefined ? 'absent' : rows.try === 'try' ? 'applied' : 'blocked';
  const refused = (why, writes = []) => ({ outcome: 'refused', writes, why });
  if (op === 'try') {
    if (state === 'absent') return { outcome: 'applied', writes: [['try', 'try']] };
    return state === 'applied' ? { outcome: 'duplicate', writes: [] } : refused('the branch was already cancelled');
  }
  if (op === 'confirm') {
    if (rows.confirm !== undefined) return { outcome: 'duplicate', writes: [] };
    if (state === 'absent') return refused(TRY_NEVER_APPLIED, [['try', 'blocked']]);
    if (state === 'blocked') return refused(`${TRY_NEVER_APPLIED} (the branch was cancelled or refused)`);
    if (rows.cancel !== undefined) return refused('the branch was already cancelled');
    return { outcome: 'applied', writes: [['confirm', 'confirm']] };
  }
  // cancel
  if (rows.cancel !== undefined) return { outcome: 'duplicate', writes: [] };
  if (rows.confirm !== undefined) return refused('the branch was already confirmed');
  if (state === 'absent') return { outcome: 'empty_cancel', writes: [['try', 'blocked'], ['cancel', 'cancel']] };
  if (state === 'blocked') return { outcome: 'empty_cancel', writes: [['cancel', 'cancel']] };
  return { outcome: 'applied', writes: [['cancel', 'cancel']] };
}

// One local transaction: claim the try slot, read the branch's rows, decide, write, run the work.
async function barrier(pool, gid, branchId, op, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const claim = await client.query(CLAIM, [gid, branchId, 'try', op === 'try' ? 'try' : 'blocked']);
    const claimed = claim.rows[0].inserted;
    const rows = {};
    if (!claimed) {
      for (const r of (await client.query(ROWS, [gid, branchId])).rows) rows[r.op] = r.reason;
    }
    const decision = decide(op, rows);
    for (const [writeOp, reason] of decision.writes) {
      if (!(writeOp === 'try' && claimed)) await client.query(CLAIM, [gid, branchId, writeOp, reason]);
    }
    let result = null;
    if (decision.outcome === 'applied') result = await work(client);
    await client.query('COMMIT');
    return { outcome: decision.outcome, result, why: decision.why };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

// ------------------------------------------------------------------------------------------------- the bank
const SQL = {
  schema: `CREATE TABLE IF NOT EXISTS bank_account (
    id text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0),
    frozen bigint NOT NULL DEFAULT 0 CHECK (frozen >= 0), incoming bigint NOT NULL DEFAULT 0 CHECK (incoming >= 0))`,
  seed: 'INSERT INTO bank_account (id, balance) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
  debit_try: 'UPDATE bank_account SET balance = balance - $2, frozen = frozen + $2 WHERE id = $1 AND balance >= $2',
  debit_confirm: 'UPDATE bank_account SET frozen = frozen - $2 WHERE id = $1',
  debit_cancel: 'UPDATE bank_account SET balance = balance + $2, frozen = frozen - $2 WHERE id = $1',
  credit_try: 'UPDATE bank_account SET incoming = incoming + $2 WHERE id = $1',
  credit_confirm: 'UPDATE bank_account SET balance = balance + $2, incoming = incoming - $2 WHERE id = $1',
  credit_cancel: 'UPDATE bank_account SET incoming = incoming - $2 WHERE id = $1',
};

class Refusal extends Error {} // a try that says no: 422, the transaction rolls back

const ACTIONS = {
  debit: {
    try: async (db, { account, amount }) => {
      if ((await db.query(SQL.debit_try, [account, amount])).rowCount !== 1) {
        throw new Refusal(`account ${account} cannot pay ${amount}: balance too low or unknown account`);
      }
      return { reserved: amount };
    },
    confirm: async (db, { account, amount }) => { await db.query(SQL.debit_confirm, [account, amount]); },
    cancel: async (db, { account, amount }) => { await db.query(SQL.debit_cancel, [account, amount]); },
  },
  credit: {
    try: async (db, { account, amount }) => {
      if ((await db.query(SQL.credit_try, [account, amount])).rowCount !== 1) {
        throw new Refusal(`no account '${account}'`);
      }
      return { incoming: amount };
    },
    confirm: async (db, { account, amount }) => { await db.query(SQL.credit_confirm, [account, amount]); },
    cancel: async (db, { account, amount }) => { await db.query(SQL.credit_cancel, [account, amount]); },
  },
};

function validArgs(args) {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return 'args: must be a JSON object';
  if (typeof args.account !== 'string' || !args.account) return 'account: must be a non-empty string';
  if (!Number.isInteger(args.amount) || args.amount <= 0) return 'amount: must be a positive integer';
  return null;
}

// ---------------------------------------------------------------------------------------------- HTTP server
function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const fail = (res, status, code, error) => reply(res, status, { code, error });

function makeHandler(options, pool, key) {
  const { service, failRate } = options;
  return async (req, res, raw) => {
    const name = decodeURIComponent((req.url || '/').split('?')[0].replace(/^\/+/, ''));
    const [actionName, opSuffix] = name.split('.');
    const op = opSuffix === undefined ? 'try' : opSuffix;
    const action = ACTIONS[actionName];
    if (req.method !== 'POST' || !action || !['try', 'confirm', 'cancel'].includes(op)) {
      return fail(res, 404, 'UNIMPLEMENTED', `service '${service}' has no action '${name.slice(0, 80)}'`);
    }
    let args;
    try {
      args = raw.length ? JSON.parse(raw) : {};
    } catch (e) {
      return fail(res, 400, 'INVALID_ARGUMENT', `body: not valid JSON (${e.message})`);
    }
    const gid = req.headers['txc-gid'];
    const branchId = req.headers['txc-branch-id'];
    if (!gid) return fail(res, 400, 'INVALID_ARGUMENT', 'Txc-Gid: header missing');
    if (!branchId) return fail(res, 400, 'INVALID_ARGUMENT', 'Txc-Branch-Id: header missing');
    // the signature first: an unregistered call reaches neither the barrier nor the bank
    const refusal = signatureRefusal(key, service, name, gid, branchId, req.headers['txc-branch-signature'], args);
    if (refusal) return fail(res, 403, 'PERMISSION_DENIED', refusal);
    const invalid = validArgs(args);
    if (invalid && op === 'try') return fail(res, 400, 'INVALID_ARGUMENT', `${service}.${name}: ${invalid}`);
    const where = `${service}.${name}`;
    if (failRate > 0 && Math.random() < failRate / 2) {
      return fail(res, op === 'try' ? 422 : 500, op === 'try' ? 'FAILED_PRECONDITION' : 'INTERNAL',
        `${where}: injected failure before the work`);
    }
    try {
      const done = await barrier(pool, gid, branchId, op, async (db) => {
        if (invalid) throw Object.assign(new Error(invalid), { invalid: true });
        return action[op](db, args);
      });
      if (done.outcome === 'refused') {
        return fail(res, 409, 'ABORTED',
          `${where}: ${op} of branch ${branchId} of global transaction '${gid}' refused: ${done.why}`);
      }
      if (failRate > 0 && Math.random() < failRate / 2) {
        // the work committed but the answer is lost: the caller retries and the barrier makes it a duplicate
        return fail(res, op === 'try' ? 503 : 500, op === 'try' ? 'UNAVAILABLE' : 'INTERNAL',
          `${where}: injected failure after the work`);
      }
      const answer = { result: done.result === undefined ? null : done.result, barrier: done.outcome };
      if (key && op === 'try' && ['applied', 'duplicate'].includes(done.outcome)) {
        answer.receipt = receipt(key, gid, branchId);
      }
      return reply(res, 200, answer);
    } catch (error) {
      if (error instanceof Refusal) return fail(res, 422, 'FAILED_PRECONDITION', `${where} failed: ${error.message}`);
      if (error.invalid) return fail(res, 400, 'INVALID_ARGUMENT', `${where}: ${error.message}`);
      console.error(`${where} failed for ${gid}/${branchId}: ${error.message}`);
      return fail(res, 500, 'INTERNAL', `${where} failed: ${error.message}`);
    }
  };
}

// ------------------------------------------------------------------------------- registry (REST, with lease)
async function coordinatorCall(options, method, path, body) {
  const headers = { 'content-type': 'application/json' };
  if (process.env.TXC_TOKEN) headers.authorization = `Bearer ${process.env.TXC_TOKEN}`;
  const response = await fetch(`${options.coordinator}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${answer.error}`);
  return answer;
}

async function keepRegistered(options, baseUrl) {
  const registration = {
    service: options.service, address: baseUrl, ttl_seconds: options.ttl, metadata: { protocol: 'http' },
  };
  let lease = null;
  for (;;) {
    try {
      if (lease === null) {
        lease = (await coordinatorCall(options, 'POST', '/v1/registry/endpoints', registration)).endpoint.lease_id;
        console.log(`${options.service}: registered ${baseUrl} (lease ${lease})`);
      } else {
        const kept = await coordinatorCall(options, 'POST', `/v1/registry/leases/${lease}/keepalive`, {});
        if (!kept.found) lease = null; // expired (a registry restart): register again at once
      }
    } catch (error) {
      console.error(`${options.service}: registry: ${error.message}; retrying`);
    }
    await new Promise((resolve) => setTimeout(resolve, lease === null ? 200 : (options.ttl * 1000) / 3));
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const key = process.env.TXC_BRANCH_KEY ? Buffer.from(process.env.TXC_BRANCH_KEY, 'utf8') : null;
  if (!key) console.warn(`${options.service}: TXC_BRANCH_KEY is not set, calls are not verified (loopback demo only)`);
  const pool = new Pool({ connectionString: options.db, max: Number(options.poolSize) });
  await pool.query(BARRIER_DDL);
  await pool.query(SQL.schema);
  for (const item of options.accounts.split(',').filter(Boolean)) {
    const [id, amount] = item.split('=');
    await pool.query(SQL.seed, [id.trim(), Number(amount)]);
  }
  const handle = makeHandler(options, pool, key);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((error) => {
        console.error(`unexpected: ${error.stack}`);
        if (!res.headersSent) fail(res, 500, 'INTERNAL', 'unexpected error');
      });
    });
  });
  server.keepAliveTimeout = 65_000; // longer than the coordinator's pooled connections stay idle
  const [host, port] = [options.listen.slice(0, options.listen.lastIndexOf(':')), options.listen.split(':').pop()];
  server.listen(Number(port), host, () => {
    const baseUrl = `http://${host}:${server.address().port}`;
    console.log(`${options.service} serving over HTTP on ${baseUrl}`);
    keepRegistered(options, baseUrl);
  });
  const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
}

module.exports = { canonicalJson, sign, receipt, decide };
