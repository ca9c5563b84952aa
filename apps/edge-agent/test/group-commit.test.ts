import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sku } from '@scoville/crdt-inventory';
import { requestHash } from '@scoville/protocol';
import { initAgent, openAgent } from '../src/agent.js';
import type { StockChange } from '../src/inventory/agent-inventory.js';
import { DurabilityLostError } from '../src/inventory/group-commit.js';
import { WriteService } from '../src/inventory/write-service.js';
import { SqliteAgentStore } from '../src/store/sqlite-store.js';

let dir: string;
let opened: ReturnType<typeof openAgent>;
let writes: WriteService;
/** Real fsyncs of the WAL, started only when the test releases them: the disk "is slow". */
let held: (() => void)[];
/** Held fsyncs started and not yet called back. */
let running = 0;
const now = Date.parse('2026-11-30T10:00:00Z');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-gc-'));
  initAgent(dir, 's1');
  opened = openAgent(dir);
  held = [];
  running = 0;
  const realSync = opened.store.syncToDisk.bind(opened.store);
  opened.store.syncToDisk = (done) =>
    void held.push(() => {
      running++;
      realSync((error) => {
        running--;
        done(error);
      });
    });
  // These tests hold the fsyncs off the loop: no write commits with its fsync inside (see 'a write alone' below).
  writes = new WriteService(opened.store, opened.inventory, () => now, { inlineAloneUnderMs: 0 });
});
afterEach(() => {
  writes.close();
  opened.store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One batch of fsyncs per batch in flight at most: the next batch waits for the disk. */
const oneSyncInFlight = () => {
  writes.close();
  writes = new WriteService(opened.store, opened.inventory, () => now, { maxSyncsInFlight: 1, inlineAloneUnderMs: 0 });
};

const sale = (key: string, sku = 'A', qty = 1) => {
  const body = { idempotencyKey: key, lines: [{ sku, qty }] };
  return writes.write({ route: 'POST /sales', idempotencyKey: key, request: body, run: (ctx) => opened.inventory.sell([{ sku: sku as Sku, qty }], ctx) });
};
const restock = (key: string, sku: string, qty: number) => {
  const body = { idempotencyKey: key, lines: [{ sku, qty }] };
  return writes.write({ route: 'POST /restocks', idempotencyKey: key, request: body, run: (ctx) => opened.inventory.restock([{ sku: sku as Sku, qty }], ctx) });
};
const settled = <T>(p: Promise<T>) => {
  const s = { done: false, value: undefined as T | undefined };
  void p.then((v) => Object.assign(s, { done: true, value: v }), () => Object.assign(s, { done: true }));
  return s;
};
const turn = () => new Promise((r) => setImmediate(r));
/** Starts the held fsyncs (`which`: some of them) and waits for them to complete. */
const release = async (which?: number[]) => {
  const start = which === undefined ? held.splice(0) : which.map((i) => held[i]!);
  if (which !== undefined) held = held.filter((_, i) => !which.includes(i));
  for (const s of start) s();
  while (running > 0) await turn();
  await turn();
};
/** The answer to `write` once its batch's fsync has been let through. */
const durable = async <T>(write: Promise<T>): Promise<T | undefined> => {
  const s = settled(write);
  await turn();
  await release();
  return s.value;
};
const stocked = () => durable(restock('r', 'A', 10));

describe('GroupCommit with the fsync off the event loop', () => {
  it('answers only after the fsync; requests arriving meanwhile form the next batch', async () => {
    oneSyncInFlight();
    await stocked();
    const durableSeq = opened.inventory.durableEventSeq;
    const heard: StockChange[] = [];
    opened.inventory.onChange((c) => heard.push(c));

    const first = settled(Promise.all([sale('s1'), sale('s2')]));
    await turn();
    // Committed (the next reader sees it) but not yet durable: no answer, no announcement, not for the hub.
    expect(writes.commits.stats.transactions).toBe(2);
    expect(held).toHaveLength(1);
    await turn();
    expect(first.done).toBe(false);
    expect(heard).toEqual([]);
    expect(opened.inventory.lastEventSeq).toBe(durableSeq + 2);
    expect(opened.inventory.durableEventSeq).toBe(durableSeq);
    expect(opened.store.events(durableSeq, 100, opened.inventory.durableEventSeq)).toEqual([]);

    // Arrive during the fsync: parsed and queued, committed together once it is done.
    const second = settled(Promise.all([sale('s3'), sale('s4'), sale('s5')]));
    await turn();
    await turn();
    expect(writes.commits.stats.transactions).toBe(2);

    await release();
    expect(first.done).toBe(true);
    expect(first.value!.map((a) => a.status)).toEqual([201, 201]);
    expect(heard.map((c) => c.event?.type)).toEqual(['sale', 'sale']);
    expect(opened.inventory.durableEventSeq).toBe(durableSeq + 2);
    expect(writes.commits.stats.transactions).toBe(3);
    expect(second.done).toBe(false);
    await release();
    expect(second.value!.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(opened.inventory.durableEventSeq).toBe(durableSeq + 5);
    expect(opened.store.events(durableSeq, 100, opened.inventory.durableEventSeq)).toHaveLength(5);
    expect(writes.commits.stats).toMatchObject({ transactions: 3, writes: 6, syncs: 3 });
  });

  it('with two fsyncs in flight, the later one covers the earlier batch too: answers in commit order, once', async () => {
    await stocked();
    const order: string[] = [];
    const first = sale('s1').then((a) => order.push(`s1 ${a.status}`));
    await turn();
    const second = sale('s2').then((a) => order.push(`s2 ${a.status}`));
    await turn();
    // Both committed, both fsyncs issued; the second ends first.
    expect(held).toHaveLength(2);
    await release([1]);
    expect(order).toEqual(['s1 201', 's2 201']);
    expect(opened.inventory.durableEventSeq).toBe(opened.inventory.lastEventSeq);
    await release();
    await Promise.all([first, second]);
    expect(order).toEqual(['s1 201', 's2 201']);
    expect(await durable(sale('s3'))).toMatchObject({ status: 201 });
    expect(opened.inventory.stock('A' as Sku, now).onHand).toBe(7);
  });

  it('replays a key used in the batch being fsynced once that batch is durable; another body under it is refused', async () => {
    oneSyncInFlight();
    await stocked();
    const first = settled(sale('k'));
    await turn();
    const again = settled(sale('k'));
    const other = settled(sale('k', 'A', 2));
    await release();
    expect(first.value).toMatchObject({ status: 201, replayed: false });
    await release();
    expect(again.value).toMatchObject({ status: 201, replayed: true, json: first.value!.json });
    expect(other.value).toMatchObject({ status: 422 });
    expect(JSON.parse(other.value!.json)).toMatchObject({ error: { code: 'idempotency_key_reused' } });
    expect(opened.inventory.stock('A' as Sku, now).onHand).toBe(9);
    // The stored hash is @scoville/protocol's requestHash: answers stored by earlier versions still match.
    expect(opened.store.findAnswer('k')!.requestHash).toBe(requestHash('POST /sales', { idempotencyKey: 'k', lines: [{ sku: 'A', qty: 1 }] }));
  });

  it('a failed transaction rejects its batch and restores memory from disk; the batch being fsynced is unaffected', async () => {
    await stocked();
    const ok = settled(sale('ok'));
    await turn();
    // Queued behind the fsync: a sale and a write that changes memory and then fails.
    const victim = settled(sale('victim'));
    const broken = writes.internal(() => {
      opened.inventory.restock([{ sku: 'A' as Sku, qty: 100 }], { now });
      throw new Error('disk full');
    });
    const failure = broken.then(() => 'committed', (e: unknown) => String(e));
    await release();
    expect(await failure).toBe('Error: disk full');
    expect(ok.value).toMatchObject({ status: 201 });
    expect(victim.done).toBe(true);
    expect(victim.value).toBeUndefined();
    expect(opened.inventory.stock('A' as Sku, now).onHand).toBe(9);
    expect(await durable(sale('after'))).toMatchObject({ status: 201 });
    expect(opened.inventory.stock('A' as Sku, now).onHand).toBe(8);
  });

  it('close() commits what is queued and makes everything durable before it returns', async () => {
    await stocked();
    const inFsync = settled(sale('a'));
    await turn();
    const alsoInFsync = settled(sale('b'));
    await turn();
    const queued = settled(sale('c'));
    writes.close();
    await turn();
    expect(inFsync.value).toMatchObject({ status: 201 });
    expect(alsoInFsync.value).toMatchObject({ status: 201 });
    expect(queued.value).toMatchObject({ status: 201 });
    expect(opened.inventory.durableEventSeq).toBe(opened.inventory.lastEventSeq);
    await expect(sale('late')).rejects.toThrow('shutting down');
    const again = new SqliteAgentStore(opened.paths.db);
    expect(again.events(0, 100).map((e) => e.idempotencyKey)).toEqual(['r', 'a', 'b', 'c']);
    again.close();
  });
});

describe('GroupCommit: a write alone on a fast disk', () => {
  const withThreshold = (ms: number) => {
    writes.close();
    writes = new WriteService(opened.store, opened.inventory, () => now, { inlineAloneUnderMs: ms });
  };

  it('fsyncs on the loop once an fsync was fast; a write arriving during an fsync off the loop still waits for it', async () => {
    withThreshold(60_000);
    await stocked(); // the first write: no fsync measured yet, off the loop
    expect(writes.commits.stats).toMatchObject({ transactions: 1, syncs: 1 });
    const alone = settled(sale('alone'));
    await turn();
    await turn();
    // Committed and fdatasynced on the loop: answered with no fsync handed over.
    expect(held).toHaveLength(0);
    expect(alone.value).toMatchObject({ status: 201 });
    expect(writes.commits.stats).toMatchObject({ transactions: 2, writes: 2, syncs: 2 });
    expect(opened.inventory.durableEventSeq).toBe(opened.inventory.lastEventSeq);

    // Two at once are not alone: off the loop; a third arriving meanwhile is not alone either.
    const pair = settled(Promise.all([sale('p1'), sale('p2')]));
    await turn();
    expect(held).toHaveLength(1);
    const during = settled(sale('during'));
    await turn();
    expect(held).toHaveLength(2);
    expect(pair.done).toBe(false);
    expect(during.done).toBe(false);
    await release();
    expect(pair.value!.map((a) => a.status)).toEqual([201, 201]);
    expect(during.value).toMatchObject({ status: 201 });
    expect(opened.inventory.stock('A' as Sku, now).onHand).toBe(6);
  });

  it('after a slow fsync the next write alone goes off the loop again', async () => {
    withThreshold(5);
    const first = settled(restock('r', 'A', 10));
    await turn();
    await new Promise((r) => setTimeout(r, 20)); // the disk takes 20 ms
    await release();
    expect(first.value).toMatchObject({ status: 201 });
    const next = settled(sale('next'));
    await turn();
    expect(held).toHaveLength(1);
    expect(next.done).toBe(false);
    await release();
    expect(next.value).toMatchObject({ status: 201 });
  });

  it('a failed fsync on the loop stops writes, as a failed fsync off the loop does', async () => {
    withThreshold(60_000);
    await stocked();
    opened.store.syncToDiskNow = () => {
      throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    };
    await expect(sale('lost')).rejects.toBeInstanceOf(DurabilityLostError);
    await expect(sale('after')).rejects.toBeInstanceOf(DurabilityLostError);
  });
});
