/**
 * Durability with real processes: a 201 to the POS means the sale is on disk.
 *
 * SIGKILL: 8 terminals sell as fast as they can; the agent is killed at a
 * seeded random moment and restarted. Every acknowledged sale is in the event
 * log exactly once; a sale whose request died with the agent is there whole or
 * not at all; retrying it with the same key replays the stored answer or
 * records it afresh, never twice; `verify` folds the log to the stored state.
 *
 * SIGTERM: requests already received are answered 201, the process exits 0
 * and removes agent.json.
 *
 * Replay a failure: CRASH_SEED=<seed printed in the test name> npx vitest run apps/edge-agent/test/crash.test.ts
 */
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import Database from 'better-sqlite3';
import { initAgent } from '../src/agent.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  agentJsonExists,
  killAllAgents,
  postJson,
  readAgentJson,
  removeTempDirs,
  rng,
  runCli,
  sleep,
  spawnAgent,
  tempDir,
  type HttpAnswer,
} from './helpers/cli.js';

const SEED = Number(process.env.CRASH_SEED ?? 20261128);
const RUNS = 4;
const TERMINALS = 8;
const SKUS = ['HSS-001', 'HSS-002', 'HSS-003', 'HSS-004', 'HSS-005', 'HSS-006'];
const RESTOCK_QTY = 1_000_000;

interface SaleBody {
  idempotencyKey: string;
  lines: { sku: string; qty: number }[];
  terminal: string;
}

interface LoggedEvent {
  seq: number;
  id: string;
  idempotency_key: string | null;
  type: string;
  sku: string;
  qty: number;
}

/** The event log, straight from the SQLite file (read-only), not through the agent's code. */
function readLog(dataDir: string): LoggedEvent[] {
  const db = new Database(join(dataDir, 'agent.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT seq, id, idempotency_key, type, sku, qty FROM events ORDER BY seq`).all() as LoggedEvent[];
  } finally {
    db.close();
  }
}

function byKey(events: LoggedEvent[]): Map<string, LoggedEvent[]> {
  const m = new Map<string, LoggedEvent[]>();
  for (const e of events) {
    if (e.idempotency_key === null) continue;
    const list = m.get(e.idempotency_key) ?? [];
    list.push(e);
    m.set(e.idempotency_key, list);
  }
  return m;
}

/** A sale is all its lines or nothing: the logged events must be exactly its lines, in order. */
function expectWholeSale(body: SaleBody, events: LoggedEvent[] | undefined, label: string): void {
  const got = (events ?? []).map((e) => ({ type: e.type, sku: e.sku, qty: e.qty }));
  expect(got, `${label} ${body.idempotencyKey}`).toEqual(body.lines.map((l) => ({ type: 'sale', sku: l.sku, qty: l.qty })));
}

async function initAndStart(dataDir: string) {
  initAgent(dataDir, 's1'); // in-process: cli.test.ts covers `edge-agent init`
  const agent = await spawnAgent(dataDir);
  const restock = await postJson(`${agent.url}/restocks`, {
    idempotencyKey: 'restock-1',
    lines: SKUS.map((sku) => ({ sku, qty: RESTOCK_QTY })),
  });
  expect(restock.status).toBe(201);
  return agent;
}

/**
 * TERMINALS POS clients on keep-alive connections, each selling in a loop with
 * fresh keys until its request fails (the agent died) or `stop()`.
 */
function startTerminals(url: string, rand: () => number, prefix: string) {
  const http = new Agent({ keepAlive: true, maxSockets: TERMINALS });
  const sent = new Map<string, SaleBody>();
  const acked = new Map<string, HttpAnswer>();
  /** Sent, but no complete answer came back. */
  const failed = new Set<string>();
  const unexpected: { key: string; status: number; body: unknown }[] = [];
  let stopped = false;
  let onFirstAck: () => void = () => {};
  const firstAck = new Promise<void>((r) => (onFirstAck = r));

  const saleBody = (key: string, t: number): SaleBody => {
    const first = Math.floor(rand() * SKUS.length);
    const lines = [{ sku: SKUS[first]!, qty: 1 + Math.floor(rand() * 3) }];
    if (rand() < 0.4) lines.push({ sku: SKUS[(first + 1) % SKUS.length]!, qty: 1 + Math.floor(rand() * 3) });
    return { idempotencyKey: key, lines, terminal: `t${t}` };
  };

  const terminal = async (t: number) => {
    for (let n = 0; !stopped; n++) {
      const key = `${prefix}-t${t}-${n}`;
      const body = saleBody(key, t);
      sent.set(key, body);
      try {
        const r = await postJson(`${url}/sales`, body, http);
        if (r.status === 201) {
          acked.set(key, r);
          onFirstAck();
        } else unexpected.push({ key, status: r.status, body: r.body });
      } catch {
        failed.add(key);
        return;
      }
    }
  };
  const done = Promise.all(Array.from({ length: TERMINALS }, (_, t) => terminal(t))).finally(() => http.destroy());
  return {
    sent,
    acked,
    failed,
    unexpected,
    firstAck,
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

afterEach(async () => {
  await killAllAgents();
});
afterAll(() => {
  removeTempDirs();
});

const pick = rng(SEED);
const killPoints = Array.from({ length: RUNS }, (_, run) => ({ run, delayMs: 50 + Math.floor(pick() * 551) }));

describe(`SIGKILL under load (CRASH_SEED=${SEED})`, () => {
  for (const { run, delayMs } of killPoints) {
    it(`run ${run + 1}/${RUNS}: killed ${delayMs} ms after the first acknowledged sale`, async () => {
      const dir = tempDir('scoville-crash-');
      let agent = await initAndStart(dir);
      const load = startTerminals(agent.url, rng(SEED * 31 + run), `r${run}`);

      await load.firstAck;
      await sleep(delayMs);
      const killed = await agent.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      await load.done;

      expect(load.unexpected).toEqual([]);
      expect(load.acked.size).toBeGreaterThan(0);
      expect(load.acked.size + load.failed.size).toBe(load.sent.size);

      // Restart on the same data folder: a new process, a new agent.json.
      const oldPid = agent.pid;
      expect(readAgentJson(dir)?.pid).toBe(oldPid); // the killed agent could not clean up
      agent = await spawnAgent(dir);
      expect(agent.pid).not.toBe(oldPid);
      expect(readAgentJson(dir)).toMatchObject({ pid: agent.pid, url: agent.url });

      // Every acknowledged sale is on disk, exactly once, with the events its answer named.
      const before = byKey(readLog(dir));
      for (const key of before.keys()) expect(key === 'restock-1' || load.sent.has(key), `unknown key ${key} in the log`).toBe(true);
      for (const [key, answer] of load.acked) {
        const events = before.get(key);
        expectWholeSale(load.sent.get(key)!, events, 'acknowledged sale');
        expect(events!.map((e) => e.id)).toEqual(answer.body.events);
      }
      // A sale cut off mid-flight is there whole or not at all.
      const committedBeforeCrash = new Set<string>();
      for (const key of load.failed) {
        const events = before.get(key);
        if (events !== undefined) {
          expectWholeSale(load.sent.get(key)!, events, 'in-flight sale');
          committedBeforeCrash.add(key);
        }
      }

      // The restarted agent's stock is what the log says.
      const log = readLog(dir);
      for (const sku of SKUS) {
        const sold = log.filter((e) => e.type === 'sale' && e.sku === sku).reduce((s, e) => s + e.qty, 0);
        const res = await fetch(`${agent.url}/stock/${sku}`);
        expect(((await res.json()) as { onHand: number }).onHand, sku).toBe(RESTOCK_QTY - sold);
      }

      // POS retries of the cut-off sales: the stored answer, or a fresh sale; never a second one.
      for (const key of load.failed) {
        const r = await postJson(`${agent.url}/sales`, load.sent.get(key));
        expect(r.status, key).toBe(201);
        if (committedBeforeCrash.has(key)) {
          expect(r.headers['idempotent-replayed'], key).toBe('true');
          expect(r.body.events).toEqual(before.get(key)!.map((e) => e.id));
        } else {
          expect(r.headers['idempotent-replayed'], key).toBeUndefined();
        }
      }
      // ... and retries of acknowledged ones replay the first answer.
      const replays = await Promise.all([...load.acked].map(async ([key, answer]) => ({ answer, r: await postJson(`${agent.url}/sales`, load.sent.get(key)) })));
      for (const { answer, r } of replays) {
        expect(r.headers['idempotent-replayed']).toBe('true');
        expect(r.body).toEqual(answer.body);
      }

      const after = byKey(readLog(dir));
      for (const key of load.sent.keys()) expectWholeSale(load.sent.get(key)!, after.get(key), 'after retries');
      const saleEvents = readLog(dir).filter((e) => e.type === 'sale').length;
      expect(saleEvents).toBe([...load.sent.values()].reduce((s, b) => s + b.lines.length, 0));

      const stopped = await agent.kill('SIGTERM');
      expect(stopped.code).toBe(0);
      const verify = await runCli(['--data', dir, '--json', 'verify']);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, problems: [], events: SKUS.length + saleEvents });
    });
  }
});

/**
 * A POST the agent has provably received but not answered: sent with
 * `Expect: 100-continue`, so the "100 Continue" tells us the agent parsed the
 * headers and opened the request; then half the body, the rest on `finish()`.
 */
function halfSentSale(url: string, body: SaleBody) {
  const payload = Buffer.from(JSON.stringify(body));
  const half = Math.floor(payload.length / 2);
  let settle!: { resolve: (a: { status: number; replayed: boolean; body: any }) => void; reject: (e: Error) => void };
  const answer = new Promise<{ status: number; replayed: boolean; body: any }>((resolve, reject) => (settle = { resolve, reject }));
  answer.catch(() => {}); // awaited later; do not report it as unhandled meanwhile
  const req = request(`${url}/sales`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': payload.length, expect: '100-continue' },
  });
  const received = new Promise<void>((resolve, reject) => {
    req.once('continue', () => {
      req.write(payload.subarray(0, half));
      resolve();
    });
    req.once('error', reject);
  });
  req.on('response', (res) => {
    let text = '';
    res.setEncoding('utf8').on('data', (d: string) => (text += d));
    res.on('end', () => settle.resolve({ status: res.statusCode ?? 0, replayed: res.headers['idempotent-replayed'] === 'true', body: JSON.parse(text) }));
  });
  req.on('error', (e) => settle.reject(e));
  req.flushHeaders();
  return { received, answer, finish: () => req.end(payload.subarray(half)) };
}

describe('SIGTERM', () => {
  it('answers the requests it has received, then exits 0 and removes agent.json', async () => {
    const dir = tempDir('scoville-term-');
    const agent = await initAndStart(dir);
    const load = startTerminals(agent.url, rng(SEED + 7), 'term');
    await load.firstAck;

    const pending = Array.from({ length: 4 }, (_, i) =>
      halfSentSale(agent.url, { idempotencyKey: `slow-${i}`, lines: [{ sku: SKUS[i]!, qty: 2 }], terminal: 'slow' }),
    );
    await Promise.all(pending.map((p) => p.received));
    agent.child.kill('SIGTERM');
    const deadline = Date.now() + 5_000;
    while (!agent.output().stdout.includes('"shutting down"') && Date.now() < deadline) await sleep(10);
    expect(agent.output().stdout).toContain('"shutting down"');

    // New connections are refused once the agent is shutting down.
    await expect(postJson(`${agent.url}/sales`, { idempotencyKey: 'late', lines: [{ sku: SKUS[0], qty: 1 }] })).rejects.toThrow();

    for (const p of pending) p.finish();
    const answers = await Promise.all(pending.map((p) => p.answer));
    for (const a of answers) expect(a).toMatchObject({ status: 201, replayed: false });

    const exit = await agent.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agentJsonExists(dir)).toBe(false);
    await load.done;
    expect(load.unexpected).toEqual([]);

    // What was answered is on disk once; the late request is not there at all.
    const logged = byKey(readLog(dir));
    for (let i = 0; i < pending.length; i++) {
      expectWholeSale({ idempotencyKey: `slow-${i}`, lines: [{ sku: SKUS[i]!, qty: 2 }], terminal: 'slow' }, logged.get(`slow-${i}`), 'slow sale');
    }
    for (const [key] of load.acked) expectWholeSale(load.sent.get(key)!, logged.get(key), 'acknowledged sale');
    for (const key of load.failed) {
      const events = logged.get(key);
      if (events !== undefined) expectWholeSale(load.sent.get(key)!, events, 'in-flight sale');
    }
    expect(logged.has('late')).toBe(false);

    const verify = await runCli(['--data', dir, '--json', 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });
});
