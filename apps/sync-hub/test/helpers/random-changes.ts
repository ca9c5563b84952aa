import type { CounterEntry, ReplicaId, ReservationId, ReservationRecord, ReservationStatus, Sku, StoreId } from '@scoville/crdt-inventory';
import type { HubState } from '../../src/state/hub-state.js';

/**
 * Committed changes for the property tests of what listens to HubState:
 * counter entries that only grow (so each changes something), holds opened
 * and ended, each applied as one delta.
 */
export class RandomChanges {
  private readonly pn = new Map<string, [number, number]>();
  private readonly holds: ReservationRecord[] = [];
  private seq = 0;

  constructor(
    private readonly state: HubState,
    private readonly owner: ReplicaId,
  ) {}

  /** Each item grows P by dp and N by dn of (store, sku, replica). */
  entries(items: readonly { store: StoreId; sku: Sku; replica: ReplicaId; dp: number; dn: number }[]): void {
    const entries: CounterEntry[] = [];
    for (const it of items) {
      const k = `${it.store}|${it.sku}|${it.replica}`;
      const [p, n] = this.pn.get(k) ?? [0, 0];
      const next: [number, number] = [p + it.dp, n + it.dn];
      this.pn.set(k, next);
      entries.push({ store: it.store, sku: it.sku, replica: it.replica, p: next[0], n: next[1] });
    }
    this.state.apply({ entries, transfers: [], reservations: [] });
  }

  hold(store: StoreId, sku: Sku, qty: number, expiresAt: number): void {
    const r: ReservationRecord = { id: `h${++this.seq}` as ReservationId, store, sku, owner: this.owner, qty, expiresAt, status: 'active' };
    this.holds.push(r);
    this.state.apply({ entries: [], transfers: [], reservations: [r] });
  }

  /** Ends one of the open holds (picked by index, modulo), if any. */
  endHold(pick: number, status: ReservationStatus): void {
    if (this.holds.length === 0) return;
    const [r] = this.holds.splice(pick % this.holds.length, 1);
    this.state.apply({ entries: [], transfers: [], reservations: [{ ...r!, status }] });
  }
}
