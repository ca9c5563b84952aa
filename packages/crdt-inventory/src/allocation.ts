import type { Counter } from './counter.js';
import type { ReplicaId, Sku, StoreId } from './ids.js';
import { rights } from './operations.js';
import type { InventoryState } from './state.js';

/**
 * Online allocation policy (issue 7; DESIGN.md "Online allocation"): how
 * much of a store's sellable stock the online channel (the hub's replicas)
 * may hold rights to. Pure: no I/O, no time. The hub stores one policy per
 * store; the agent keeps the last one it received.
 *
 * - `share`: floor(sellable × share) goes online (0..1);
 * - `units`: up to `units` go online;
 * - `keep`: the store keeps `keep`, the rest goes online;
 * - `none`: nothing goes online (the default: stores keep everything until HQ allocates).
 */
export type AllocationRule =
  | { mode: 'share'; share: number }
  | { mode: 'units'; units: number }
  | { mode: 'keep'; keep: number }
  | { mode: 'none' };

export type AllocationMode = AllocationRule['mode'];

export const ALLOCATION_MODES = ['share', 'units', 'keep', 'none'] as const satisfies readonly AllocationMode[];

/** A store's policy: a default rule and per-SKU overrides. */
export interface AllocationPolicy {
  default: AllocationRule;
  skus: Record<string, AllocationRule>;
}

/** What a store without a policy gets: everything stays at the store. */
export const DEFAULT_ALLOCATION_POLICY: AllocationPolicy = Object.freeze({ default: Object.freeze({ mode: 'none' }), skus: Object.freeze({}) }) as AllocationPolicy;

/** Largest `units`/`keep` (the CRDT's MAX_TOTAL). */
const MAX_UNITS = 1e12;

/** Null when `rule` is a valid rule, else what is wrong with it. */
export function checkAllocationRule(rule: unknown): string | null {
  if (typeof rule !== 'object' || rule === null) return 'a rule must be an object with a mode';
  const r = rule as Record<string, unknown>;
  const keys = Object.keys(r).sort().join(',');
  switch (r.mode) {
    case 'share':
      if (keys !== 'mode,share') return 'a share rule is {mode, share}';
      return typeof r.share === 'number' && Number.isFinite(r.share) && r.share >= 0 && r.share <= 1 ? null : 'share must be a number from 0 to 1';
    case 'units':
      if (keys !== 'mode,units') return 'a units rule is {mode, units}';
      return Number.isSafeInteger(r.units) && (r.units as number) >= 0 && (r.units as number) <= MAX_UNITS ? null : 'units must be a whole number ≥ 0';
    case 'keep':
      if (keys !== 'keep,mode') return 'a keep rule is {mode, keep}';
      return Number.isSafeInteger(r.keep) && (r.keep as number) >= 0 && (r.keep as number) <= MAX_UNITS ? null : 'keep must be a whole number ≥ 0';
    case 'none':
      return keys === 'mode' ? null : 'a none rule is {mode}';
    default:
      return `mode must be one of ${ALLOCATION_MODES.join(', ')}`;
  }
}

/** The rule that applies to `sku` (its override, else the default). */
export function ruleFor(policy: AllocationPolicy, sku: Sku | string): AllocationRule {
  return Object.prototype.hasOwnProperty.call(policy.skus, sku) ? policy.skus[sku]! : policy.default;
}

/**
 * Units the online channel may hold rights to, given `sellable` (Σ rights
 * of every replica on the counter = on hand − active holds). Always in
 * 0..max(0, sellable) and monotone in sellable.
 */
export function onlineTarget(rule: AllocationRule, sellable: number): number {
  const s = Math.max(0, Math.floor(sellable));
  switch (rule.mode) {
    case 'share':
      return Math.min(s, Math.max(0, Math.floor(s * rule.share)));
    case 'units':
      return Math.min(rule.units, s);
    case 'keep':
      return Math.max(0, s - rule.keep);
    case 'none':
      return 0;
  }
}

/** Σ rights of every replica on the counter: on hand − every active hold (lapsed or not, like rights()). */
export function sellable(state: InventoryState, store: StoreId, sku: Sku): number {
  const c: Counter | undefined = state.counter(store, sku);
  if (c === undefined) return 0;
  let held = 0;
  for (const h of c.holds ?? []) if (h.status === 'active') held += h.qty;
  return c.onHand() - held;
}

/**
 * What a store replica should hand to the hub now: its rights above what
 * the policy lets it keep (keep = sellable − onlineTarget). 0 when it holds
 * no more than that (or has a deficit).
 */
export function storeHandover(state: InventoryState, store: StoreId, sku: Sku, agent: ReplicaId, rule: AllocationRule): number {
  const total = sellable(state, store, sku);
  const keep = total - onlineTarget(rule, total);
  return Math.max(0, rights(state, store, sku, agent) - keep);
}

/**
 * What a hub replica should give back to the store replica `agent`: what
 * the online side holds above the online target (everything but the
 * agent's rights, minus the target), at most the hub replica's own rights.
 */
export function hubExcess(state: InventoryState, store: StoreId, sku: Sku, hub: ReplicaId, agent: ReplicaId, rule: AllocationRule, hubSpendable?: number): number {
  const total = sellable(state, store, sku);
  const online = total - rights(state, store, sku, agent);
  const own = hubSpendable ?? rights(state, store, sku, hub);
  return Math.max(0, Math.min(own, online - onlineTarget(rule, total)));
}
