import { digestOf, foldEvents, type Delta, type InventoryEvent } from '@scoville/crdt-inventory';
import type { AgentInventory } from './inventory/agent-inventory.js';

export interface VerifyReport {
  ok: boolean;
  events: number;
  /** Digest of the replica's own entries as stored, and as rebuilt from its events. */
  storedDigest: string;
  foldedDigest: string;
  problems: string[];
}

/**
 * Rebuilds this replica's CRDT entries from its event log and compares them
 * with the stored entries. Also checks the log itself: seqs 1..n without
 * gaps, one event per id.
 */
export function verifyAgent(inventory: AgentInventory): VerifyReport {
  const { store, identity } = inventory;
  const problems: string[] = [];
  const all: InventoryEvent[] = [];
  let after = 0;
  for (;;) {
    const page = store.events(after, 10_000);
    if (page.length === 0) break;
    for (const e of page) {
      if (e.seq !== after + 1) problems.push(`event log gap: seq ${after + 1} missing before ${e.seq}`);
      after = e.seq;
      all.push(e);
    }
  }
  const folded = foldEvents(all).entriesOf(identity.replica, identity.store);
  const stored = inventory.state.entriesOf(identity.replica, identity.store);
  const storedDigest = digestOf(stored);
  const foldedDigest = digestOf(folded);
  if (storedDigest !== foldedDigest) problems.push(...describeDiff(stored, folded));
  return { ok: problems.length === 0, events: all.length, storedDigest, foldedDigest, problems };
}

function describeDiff(stored: Delta, folded: Delta): string[] {
  const out: string[] = [];
  const key = (e: { sku: string; replica: string }) => `${e.sku}`;
  const f = new Map(folded.entries.map((e) => [key(e), e]));
  const s = new Map(stored.entries.map((e) => [key(e), e]));
  for (const [k, e] of s) {
    const g = f.get(k);
    if (!g || g.p !== e.p || g.n !== e.n) out.push(`${k}: stored P=${e.p} N=${e.n}, events give P=${g?.p ?? 0} N=${g?.n ?? 0}`);
  }
  for (const [k, g] of f) if (!s.has(k)) out.push(`${k}: not stored, events give P=${g.p} N=${g.n}`);
  const rs = new Map(stored.reservations.map((r) => [r.id, r.status]));
  for (const r of folded.reservations) {
    if (rs.get(r.id) !== r.status) out.push(`reservation ${r.id}: stored ${rs.get(r.id) ?? 'missing'}, events give ${r.status}`);
  }
  if (out.length === 0) out.push('transfers or reservations differ between the stored state and the event log');
  return out;
}
