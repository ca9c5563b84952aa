import type { AccessStore } from './access-store.js';
import type { AllocationStore } from './allocation-store.js';
import type { AlertStore } from './alert-store.js';
import type { AuditStore } from './audit-store.js';
import type { ExportStore } from './export-store.js';
import type { InventoryStore } from './inventory-store.js';
import type { ReplenishmentStore } from './replenishment-store.js';
import type { SellingStore } from './selling-store.js';
import type { YjsStore } from './yjs-store.js';

/**
 * The hub's durable storage (PostgreSQL, or PGlite embedded), one small
 * store per concern, all over one database client:
 *
 * - `inventory` (inventory-store.ts): CRDT entries, events, sync positions,
 *   group commit and change notifications;
 * - `access` (access-store.ts): stores and their tokens, replicas, API keys;
 * - `audit` (audit-store.ts): the audit trail;
 * - `selling` (selling-store.ts): stored answers of idempotent writes and
 *   storefront carts (written by `inventory.commit`, read here);
 * - `alerts` (alert-store.ts): operational alerts (oversell), with history;
 * - `exports` (export-store.ts): the event export's log reads, cursors and publisher lease;
 * - `allocation` (allocation-store.ts): online allocation policies per store;
 * - `yjs` (yjs-store.ts): the catalog and store settings documents (Yjs updates);
 * - `replenishment` (replenishment-store.ts): units sold per SKU from the event log;
 * - `notices`: NOTIFY/LISTEN between hub processes (see selling/peer-link.ts).
 *
 * The storage owns the client and the schema: `migrate` brings every
 * concern's tables up to date (apps/sync-hub/src/db/migrations.ts), `close`
 * stops change notifications and closes the client. Code that needs one
 * concern takes that store alone, not the whole storage.
 */
export interface HubStorage {
  readonly inventory: InventoryStore;
  readonly access: AccessStore;
  readonly audit: AuditStore;
  readonly selling: SellingStore;
  readonly alerts: AlertStore;
  readonly exports: ExportStore;
  readonly allocation: AllocationStore;
  readonly yjs: YjsStore;
  readonly replenishment: ReplenishmentStore;
  readonly notices: Notices;
  migrate(): Promise<void>;
  /** One round trip to the database (health checks); rejects when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Messages between hub processes on one database (Postgres NOTIFY; delivered after the sender's statement). */
export interface Notices {
  /** `channel`: a plain lowercase identifier. Resolves once listening; returns the unlisten function. */
  listen(channel: string, cb: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
}
