import type { Sku, StoreId } from './ids.js';
import { heldOn } from './operations.js';
import type { InventoryState } from './state.js';

export interface Availability {
  /** ΣP − ΣN: units physically in the store (negative after forced sales). */
  onHand: number;
  /** Units in active, unexpired holds. */
  held: number;
  /** Units kept back from online sale. */
  safetyStock: number;
  /** onHand − held − safetyStock, possibly negative. */
  availableRaw: number;
  /** availableRaw floored at 0, for display. */
  available: number;
}

/** Availability of one SKU at one store at time `now`. Unknown SKU: all zeros. */
export function availability(state: InventoryState, store: StoreId, sku: Sku, now: number, safetyStock = 0): Availability {
  const c = state.counter(store, sku);
  const onHand = c?.onHand() ?? 0;
  const held = heldOn(state, c, now);
  const availableRaw = onHand - held - safetyStock;
  return { onHand, held, safetyStock, availableRaw, available: Math.max(0, availableRaw) };
}
