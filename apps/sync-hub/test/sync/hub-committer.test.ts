/**
 * The committer's ordering contract in isolation: transactions run
 * concurrently, but batches settle (ack, memory) strictly in start order,
 * even when a later transaction commits first or an earlier one has to be
 * retried. The store here is a controllable stand-in for `commit` only;
 * the real SQL runs in the store and sync suites.
 */
import { describe, expect, it } from 'vitest';
import { emptyDelta, replicaId, sku, storeId } from '@scoville/crdt-inventory';
import { HubState } from '../../src/state/hub-state.js';
import type { CommitItem, CommitResult, InventoryStore } from '../../src/store/inventory-store.js';
import { HubCommitter } from '../../src/sync/hub-committer.js';

const S = storeId('s1');
const R = replicaId('s1.a');

function itemWithP(p: number): CommitItem {
  const delta = emptyDelta();
  delta.entries.push({ store: S, sku: sku(`K${p}`), replica: R, p, n: 0 });
  return { delta, events: [] };
}

/** commit() calls wait until the test settles them, in any order. */
function controllableStore() {
  const calls: { items: readonly CommitItem[]; settle: (ok: boolean) => void }[] = [];
  let nextId = 0;
  const store = {
    commit(items: readonly CommitItem[]): Promise<CommitResult> {
      return new Promise((resolve, reject) => {
        calls.push({ items, settle: (ok) => (ok ? resolve({ changeId: ++nextId, eventsInserted: 0 }) : reject(new Error('connection lost'))) });
      });
    },
  } as unknown as InventoryStore;
  return { store, calls };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('HubCommitter', () => {
  it('settles in start order when a later transaction commits first', async () => {
    const { store, calls } = controllableStore();
    const state = new HubState();
    const c = new HubCommitter(store, state, { maxConcurrent: 2, concurrentAtRows: 0 });
    const order: number[] = [];
    const a = c.submit(itemWithP(1)).then(() => order.push(1));
    const b = c.submit(itemWithP(2)).then(() => order.push(2));
    await tick();
    expect(calls).toHaveLength(2);
    calls[1]!.settle(true);
    await tick();
    expect(order).toEqual([]);
    expect(state.state.counter(S, sku('K2'))).toBeUndefined(); // not in memory before its turn
    calls[0]!.settle(true);
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
    expect(state.state.counter(S, sku('K2'))?.onHand()).toBe(2);
  });

  it('retries a failed transaction and holds later ones back until it commits', async () => {
    const { store, calls } = controllableStore();
    const c = new HubCommitter(store, new HubState(), { maxConcurrent: 2, concurrentAtRows: 0, maxRetryDelayMs: 10 });
    const order: number[] = [];
    const a = c.submit(itemWithP(1)).then(() => order.push(1));
    const b = c.submit(itemWithP(2)).then(() => order.push(2));
    await tick();
    calls[0]!.settle(false);
    calls[1]!.settle(true);
    await new Promise((r) => setTimeout(r, 80));
    expect(order).toEqual([]);
    expect(c.stats.degraded).toBe(true);
    expect(calls).toHaveLength(3); // the retry of the first transaction
    expect(calls[2]!.items).toEqual(calls[0]!.items);
    calls[2]!.settle(true);
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
    expect(c.stats).toMatchObject({ degraded: false, transactions: 2, failures: 1 });
  });

  it('groups what queues up behind busy transactions into one commit', async () => {
    const { store, calls } = controllableStore();
    const c = new HubCommitter(store, new HubState(), { maxConcurrent: 1 });
    const all = [1, 2, 3, 4].map((p) => c.submit(itemWithP(p)));
    await tick();
    expect(calls.map((x) => x.items.length)).toEqual([1]);
    calls[0]!.settle(true);
    await tick();
    expect(calls.map((x) => x.items.length)).toEqual([1, 3]);
    calls[1]!.settle(true);
    await Promise.all(all);
  });

  it('starts a second transaction while one is in flight only once enough rows wait', async () => {
    const { store, calls } = controllableStore();
    const c = new HubCommitter(store, new HubState(), { maxConcurrent: 2, concurrentAtRows: 3 });
    const all = [c.submit(itemWithP(1))];
    await tick();
    all.push(c.submit(itemWithP(2)), c.submit(itemWithP(3)));
    await tick();
    expect(calls.map((x) => x.items.length)).toEqual([1]); // 2 rows wait: not yet
    all.push(c.submit(itemWithP(4)));
    await tick();
    expect(calls.map((x) => x.items.length)).toEqual([1, 3]); // 3 rows: a second transaction
    calls[0]!.settle(true);
    calls[1]!.settle(true);
    all.push(c.submit(itemWithP(5)));
    await tick();
    expect(calls.map((x) => x.items.length)).toEqual([1, 3, 1]); // nothing in flight: at once
    calls[2]!.settle(true);
    await Promise.all(all);
  });

  it('bounds a commit by rows (events and entries), but takes a single oversized batch whole', async () => {
    const { store, calls } = controllableStore();
    const c = new HubCommitter(store, new HubState(), { maxConcurrent: 1, maxRowsPerCommit: 3 });
    const big = itemWithP(10);
    for (let i = 0; i < 4; i++) big.delta.entries.push({ store: S, sku: sku(`B${i}`), replica: R, p: 1, n: 0 });
    const first = c.submit(itemWithP(1));
    await tick();
    const rest = [c.submit(big), ...[2, 3, 4, 5].map((p) => c.submit(itemWithP(p)))];
    const sizes = (): number[] => calls.map((x) => x.items.length);
    calls[0]!.settle(true);
    await tick();
    expect(sizes()).toEqual([1, 1]); // the 5-row batch alone, over the bound
    calls[1]!.settle(true);
    await tick();
    expect(sizes()).toEqual([1, 1, 3]); // then 3 one-row batches
    calls[2]!.settle(true);
    await tick();
    expect(sizes()).toEqual([1, 1, 3, 1]);
    expect(calls[3]!.items[0]!.delta.entries[0]!.p).toBe(5); // in submission order
    calls[3]!.settle(true);
    await Promise.all([first, ...rest]);
  });
});

describe('HubCommitter with an unstorable batch', () => {
  it('refuses only the bad batch and commits the others, without retrying forever', async () => {
    const poison = itemWithP(13);
    const commits: number[] = [];
    const store = {
      async commit(items: readonly CommitItem[]): Promise<CommitResult> {
        await new Promise((r) => setTimeout(r, 5));
        if (items.includes(poison)) throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
        commits.push(items.length);
        return { changeId: commits.length, eventsInserted: 0 };
      },
    } as unknown as InventoryStore;
    const state = new HubState();
    const c = new HubCommitter(store, state, { maxConcurrent: 1 });
    const first = c.submit(itemWithP(1));
    const rest = [itemWithP(2), poison, itemWithP(3)].map((i) => c.submit(i).then(() => 'ok', (e: Error) => e.message));
    await first;
    expect(await Promise.all(rest)).toEqual(['ok', expect.stringContaining('0x00'), 'ok']);
    expect(state.state.counter(S, sku('K3'))?.onHand()).toBe(3);
    expect(c.stats.degraded).toBe(false);
  });
});
