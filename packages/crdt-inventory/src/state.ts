import { Counter } from './counter.js';
import {
  deltaOf,
  emptyDelta,
  entryProblem,
  reservationProblem,
  statusRank,
  transferProblem,
  type CounterEntry,
  type Delta,
  type ReservationRecord,
  type TransferEntry,
} from './delta.js';
import { hash64 } from './hash.js';
import type { ReplicaId, ReservationId, Sku, StoreId } from './ids.js';

interface StoredReservation {
  rec: ReservationRecord;
  seq: number;
}

/**
 * The merged inventory of many stores: one bounded counter per (store, sku)
 * plus reservation records. Mutated in place for speed; every change bumps
 * `seq` and stamps the changed counter or reservation with it, so
 * `changedSince(seq)` yields the coalesced catch-up delta.
 *
 * Merge is the entry-wise maximum, so applying any delta any number of times,
 * in any order, converges. Entries that fail validation (delta.ts:
 * entryProblem, transferProblem, reservationProblem) are ignored: never
 * stored, never in an effective delta. `validateDelta` tells a caller why.
 *
 * Reservations are keyed by (owner, id): ids are only unique per owner.
 */
export class InventoryState {
  private readonly stores = new Map<StoreId, Map<Sku, Counter>>();
  /** owner → id → record. */
  private readonly reservationsByOwner = new Map<ReplicaId, Map<ReservationId, StoredReservation>>();
  private readonly replicaIndex = new Map<ReplicaId, number>();
  private readonly replicaNames: ReplicaId[] = [];
  /** Monotonic change counter, local to this copy (not replicated). */
  private seqValue = 0;

  get seq(): number {
    return this.seqValue;
  }

  /** Interns a replica id to a small integer. */
  replicaNumber(replica: ReplicaId): number {
    let idx = this.replicaIndex.get(replica);
    if (idx === undefined) {
      idx = this.replicaNames.length;
      this.replicaNames.push(replica);
      this.replicaIndex.set(replica, idx);
    }
    return idx;
  }

  /** The replica number if this replica was ever seen, else -1 (no interning). */
  knownReplicaNumber(replica: ReplicaId): number {
    return this.replicaIndex.get(replica) ?? -1;
  }

  replicaName(idx: number): ReplicaId {
    return this.replicaNames[idx]!;
  }

  counter(store: StoreId, sku: Sku): Counter | undefined {
    return this.stores.get(store)?.get(sku);
  }

  /** The counter, created empty if absent. */
  counterFor(store: StoreId, sku: Sku): Counter {
    let bySku = this.stores.get(store);
    if (bySku === undefined) {
      bySku = new Map();
      this.stores.set(store, bySku);
    }
    let c = bySku.get(sku);
    if (c === undefined) {
      c = new Counter();
      bySku.set(sku, c);
    }
    return c;
  }

  storeIds(): StoreId[] {
    return [...this.stores.keys()];
  }

  skus(store: StoreId): Sku[] {
    return [...(this.stores.get(store)?.keys() ?? [])];
  }

  counterCount(): number {
    let n = 0;
    for (const m of this.stores.values()) n += m.size;
    return n;
  }

  /** The reservation `owner` created under `id`. */
  reservation(owner: ReplicaId, id: ReservationId): ReservationRecord | undefined {
    return this.reservationsByOwner.get(owner)?.get(id)?.rec;
  }

  reservations(): IterableIterator<ReservationRecord> {
    const owners = this.reservationsByOwner;
    return (function* () {
      for (const byId of owners.values()) for (const s of byId.values()) yield s.rec;
    })();
  }

  /** Marks a counter changed at a new sequence number. */
  touch(c: Counter): void {
    c.seq = ++this.seqValue;
  }

  /**
   * Joins a delta into this state. Returns the part of it that changed
   * something (the effective delta), reusing the input's objects. Invalid
   * items are skipped (see validateDelta).
   */
  applyDelta(delta: Delta): Delta {
    const out = emptyDelta();
    for (const e of delta.entries) if (this.mergeEntry(e)) out.entries.push(e);
    for (const t of delta.transfers) if (this.mergeTransferEntry(t)) out.transfers.push(t);
    for (const r of delta.reservations) if (this.mergeReservation(r)) out.reservations.push(r);
    return out;
  }

  /** Joins another full state into this one. */
  merge(other: InventoryState): Delta {
    return this.applyDelta(other.toDelta());
  }

  /** Max-merges one P/N entry; false when it changed nothing or is invalid. */
  mergeEntry(e: CounterEntry): boolean {
    if (entryProblem(e) !== null) return false;
    // An all-zero entry says nothing; do not create an empty counter for it.
    if (e.p <= 0 && e.n <= 0 && this.counter(e.store, e.sku) === undefined) return false;
    const c = this.counterFor(e.store, e.sku);
    if (!c.mergePN(this.replicaNumber(e.replica), e.p, e.n)) return false;
    this.touch(c);
    return true;
  }

  /** Max-merges one T entry; false when it changed nothing or is invalid. */
  mergeTransferEntry(t: TransferEntry): boolean {
    if (transferProblem(t) !== null) return false;
    const c = this.counterFor(t.store, t.sku);
    if (!c.mergeTransfer(this.replicaNumber(t.from), this.replicaNumber(t.to), t.amount)) return false;
    this.touch(c);
    return true;
  }

  /** Moves a reservation forward (or adds it); false when it changed nothing or is invalid. */
  mergeReservation(r: ReservationRecord): boolean {
    if (reservationProblem(r) !== null) return false;
    let byId = this.reservationsByOwner.get(r.owner);
    const existing = byId?.get(r.id);
    if (existing !== undefined) {
      if (statusRank(r.status) <= statusRank(existing.rec.status)) return false;
      // Only the owner moves its record forward. A record under the same
      // (owner, id) that differs in what it holds is another record (a bug or
      // a hostile peer): it never replaces the one we have.
      const e = existing.rec;
      if (e.store !== r.store || e.sku !== r.sku || e.qty !== r.qty || e.expiresAt !== r.expiresAt) return false;
    }
    const rec: ReservationRecord = { ...r };
    const seq = ++this.seqValue;
    if (byId === undefined) {
      byId = new Map();
      this.reservationsByOwner.set(r.owner, byId);
    }
    byId.set(r.id, { rec, seq });
    const c = this.counterFor(r.store, r.sku);
    // A new hold is appended (O(1)); only a status change of a known one
    // rebuilds the list. Rebuilding on every new hold made a flash sale's
    // thousands of holds on one counter quadratic (flash-sale bench).
    const wasActive = existing !== undefined && existing.rec.status === 'active';
    if (!wasActive) {
      if (rec.status === 'active') {
        if (c.holds === null) c.holds = [rec];
        else c.holds.push(rec);
      }
    } else {
      const holds = (c.holds ?? []).filter((h) => h.id !== r.id || h.owner !== r.owner);
      if (rec.status === 'active') holds.push(rec);
      c.holds = holds.length > 0 ? holds : null;
    }
    c.seq = seq;
    return true;
  }

  /** Every entry changed after `seq` (exclusive), optionally for one store: the catch-up delta. */
  changedSince(seq: number, store?: StoreId): Delta {
    const out = emptyDelta();
    const stores = store === undefined ? this.stores : new Map([[store, this.stores.get(store) ?? new Map()]]);
    for (const [s, bySku] of stores) {
      for (const [k, c] of bySku) if (c.seq > seq) this.appendCounter(out, s, k, c);
    }
    for (const byId of this.reservationsByOwner.values()) {
      for (const { rec, seq: rs } of byId.values()) {
        if (rs > seq && (store === undefined || rec.store === store)) out.reservations.push({ ...rec });
      }
    }
    return out;
  }

  /** The full state (optionally of one store) as a delta. */
  toDelta(store?: StoreId): Delta {
    return this.changedSince(-1, store);
  }

  /** The entries one replica wrote (for verifying it against its event fold). */
  entriesOf(replica: ReplicaId, store?: StoreId): Delta {
    return deltaOf(this.toDelta(store), replica);
  }

  /**
   * A stable digest of one store's state: equal states give equal digests
   * whatever order their entries arrived in. Anti-entropy compares these.
   */
  digest(store: StoreId): string {
    return digestOf(this.toDelta(store));
  }

  private appendCounter(out: Delta, store: StoreId, sku: Sku, c: Counter): void {
    const pn = c.pn;
    for (let i = 0; i < pn.length; i += 3) {
      out.entries.push({ store, sku, replica: this.replicaNames[pn[i]!]!, p: pn[i + 1]!, n: pn[i + 2]! });
    }
    const t = c.t;
    if (t !== null) {
      for (let i = 0; i < t.length; i += 3) {
        out.transfers.push({
          store,
          sku,
          from: this.replicaNames[t[i]!]!,
          to: this.replicaNames[t[i + 1]!]!,
          amount: t[i + 2]!,
        });
      }
    }
  }
}

/** Canonical, order-independent digest of a delta's entries. */
export function digestOf(d: Delta): string {
  const lines: string[] = [];
  for (const e of d.entries) if (e.p !== 0 || e.n !== 0) lines.push(`e|${e.sku}|${e.replica}|${e.p}|${e.n}`);
  for (const t of d.transfers) if (t.amount !== 0) lines.push(`t|${t.sku}|${t.from}|${t.to}|${t.amount}`);
  for (const r of d.reservations) lines.push(`r|${r.id}|${r.sku}|${r.owner}|${r.qty}|${r.expiresAt}|${r.status}`);
  lines.sort();
  return hash64(lines.join('\n'));
}
