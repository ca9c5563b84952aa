import type { SqlClient } from '../db/sql-client.js';
import type { AuditEntry, AuditStore } from './audit-store.js';

/** AuditStore over any SqlClient: the same SQL on PostgreSQL and PGlite. */
export class SqlAuditStore implements AuditStore {
  constructor(private readonly db: SqlClient) {}

  async audit(entry: AuditEntry): Promise<void> {
    await this.db.query('INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4::jsonb)', [
      entry.at,
      entry.actor,
      entry.action,
      JSON.stringify(entry.detail),
    ]);
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    const rows = await this.db.query<{ at: number; actor: string; action: string; detail: Record<string, unknown> }>(
      'SELECT at, actor, action, detail FROM audit ORDER BY id DESC LIMIT $1',
      [limit],
    );
    return rows.map((r) => ({ at: r.at, actor: r.actor, action: r.action, detail: r.detail }));
  }
}
