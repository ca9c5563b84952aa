import type { AllocationPolicy, AllocationRule, StoreId } from '@scoville/crdt-inventory';

/**
 * Online allocation policies (issue 7): per store, a default rule and
 * per-SKU overrides (crdt-inventory `allocation.ts`). Written by the admin
 * API and the CLI, read by every hub process: each change gets a new
 * `version` (one sequence for all stores), so a process catches up with
 * `changedSince(its last version)` (polled every ~2 s).
 *
 * Keep this interface small: the policy may later live in the store's Yjs
 * settings document instead, and only an implementation of this changes.
 */

/** A policy change: the default rule, and SKU overrides to set (a rule) or drop (null). */
export interface AllocationChange {
  default?: AllocationRule;
  skus?: Record<string, AllocationRule | null>;
}

export interface StoredAllocation {
  store: StoreId;
  policy: AllocationPolicy;
  /** Increases with every change, across stores. */
  version: number;
  updatedAt: number;
}

export interface AllocationStore {
  /** The store's policy, or null when none was ever set (then DEFAULT_ALLOCATION_POLICY applies). */
  allocation(store: StoreId): Promise<StoredAllocation | null>;
  /** Applies `change` on top of the current policy (atomically) and returns the result. */
  updateAllocation(store: StoreId, change: AllocationChange, at: number): Promise<StoredAllocation>;
  /** Policies changed after `version`, oldest first. */
  allocationsChangedSince(version: number): Promise<StoredAllocation[]>;
  /** The highest version stored (0: none). */
  allocationVersion(): Promise<number>;
}
