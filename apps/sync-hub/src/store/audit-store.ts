/**
 * The hub's audit trail, durable and append-only: who did what (CLI and
 * admin actions), newest read first. Global, not keyed by store.
 */

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

export interface AuditStore {
  audit(entry: AuditEntry): Promise<void>;
  /** The latest `limit` audit entries, newest first. */
  auditLog(limit: number): Promise<AuditEntry[]>;
}
