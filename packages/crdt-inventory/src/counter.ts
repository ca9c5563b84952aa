import type { ReservationRecord } from './delta.js';

/**
 * One bounded counter (store, sku) in a compact in-memory layout: the hub
 * keeps a million of these, so a counter is one small object and two flat
 * number arrays instead of maps of maps.
 *
 * Replicas are interned to small integers by the owning InventoryState.
 */
export class Counter {
  /** State sequence number at which this counter last changed. */
  seq = 0;
  /** [replica, p, n, replica, p, n, ...] */
  pn: number[] = [];
  /** null, or [from, to, amount, from, to, amount, ...] */
  t: number[] | null = null;
  /** Active reservations on this counter (terminal ones are dropped from here). */
  holds: ReservationRecord[] | null = null;

  /** Index into pn of the replica's triple, or -1. */
  slot(replica: number): number {
    const pn = this.pn;
    for (let i = 0; i < pn.length; i += 3) if (pn[i] === replica) return i;
    return -1;
  }

  p(replica: number): number {
    const i = this.slot(replica);
    return i < 0 ? 0 : this.pn[i + 1]!;
  }

  n(replica: number): number {
    const i = this.slot(replica);
    return i < 0 ? 0 : this.pn[i + 2]!;
  }

  /** Max-merges P and N of one replica; true when anything grew. */
  mergePN(replica: number, p: number, n: number): boolean {
    const pn = this.pn;
    const i = this.slot(replica);
    if (i < 0) {
      if (p === 0 && n === 0) return false;
      // Not push(): growing an empty array reserves 1.5×len+16 slots (176 B
      // for 6 numbers); an exact-size array keeps a counter near 200 B.
      this.pn = pn.length === 0 ? [replica, p, n] : pn.concat([replica, p, n]);
      return true;
    }
    let changed = false;
    if (p > pn[i + 1]!) {
      pn[i + 1] = p;
      changed = true;
    }
    if (n > pn[i + 2]!) {
      pn[i + 2] = n;
      changed = true;
    }
    return changed;
  }

  transfer(from: number, to: number): number {
    const t = this.t;
    if (t === null) return 0;
    for (let i = 0; i < t.length; i += 3) if (t[i] === from && t[i + 1] === to) return t[i + 2]!;
    return 0;
  }

  /** Max-merges T[from→to]; true when it grew. */
  mergeTransfer(from: number, to: number, amount: number): boolean {
    if (this.t === null) {
      if (amount <= 0) return false;
      this.t = [from, to, amount];
      return true;
    }
    const t = this.t;
    for (let i = 0; i < t.length; i += 3) {
      if (t[i] === from && t[i + 1] === to) {
        if (amount > t[i + 2]!) {
          t[i + 2] = amount;
          return true;
        }
        return false;
      }
    }
    if (amount <= 0) return false;
    this.t = t.concat([from, to, amount]);
    return true;
  }

  /** ΣP − ΣN. */
  onHand(): number {
    const pn = this.pn;
    let v = 0;
    for (let i = 0; i < pn.length; i += 3) v += pn[i + 1]! - pn[i + 2]!;
    return v;
  }

  /** Σs T[s→replica] − Σs T[replica→s]. */
  netTransfersIn(replica: number): number {
    const t = this.t;
    if (t === null) return 0;
    let v = 0;
    for (let i = 0; i < t.length; i += 3) {
      if (t[i + 1] === replica) v += t[i + 2]!;
      if (t[i] === replica) v -= t[i + 2]!;
    }
    return v;
  }
}
