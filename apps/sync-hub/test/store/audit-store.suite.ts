import { describe, expect, it } from 'vitest';
import { type StorageTestTarget, useStorage } from './storage-harness.js';

/** AuditStore (audit-store.ts): the audit trail. */
export function runAuditStoreTests(name: string, target: StorageTestTarget): void {
  describe(`AuditStore on ${name}`, () => {
    const { migrated } = useStorage(target);

    it('audit: append and read back, newest first', async () => {
      const s = await migrated();
      await s.audit.audit({ at: 1, actor: 'admin:k2', action: 'store.add', detail: { store: 'store-1', nested: { a: [1, 2] } } });
      await s.audit.audit({ at: 2, actor: 'admin:k2', action: 'store.revoke', detail: {} });
      await s.audit.audit({ at: 3, actor: 'cli', action: 'key.add', detail: { id: 'k9', role: 'read' } });
      expect(await s.audit.auditLog(2)).toEqual([
        { at: 3, actor: 'cli', action: 'key.add', detail: { id: 'k9', role: 'read' } },
        { at: 2, actor: 'admin:k2', action: 'store.revoke', detail: {} },
      ]);
      expect((await s.audit.auditLog(10))[2]).toEqual({ at: 1, actor: 'admin:k2', action: 'store.add', detail: { store: 'store-1', nested: { a: [1, 2] } } });
    });
  });
}
