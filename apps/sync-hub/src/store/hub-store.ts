/**
 * Moved. The hub's storage is split by concern (see hub-storage.ts):
 * inventory-store.ts, access-store.ts, audit-store.ts. These re-exports keep
 * imports written before the split compiling; import from the concern's file
 * instead, and delete this file once nothing imports it.
 */
export type { ApiKeyRecord, ApiRole, ReplicaKind, StoreRecord } from './access-store.js';
export type { AuditEntry } from './audit-store.js';
export type { CommitItem, CommitResult, LoadedHubState, SyncPosition } from './inventory-store.js';
