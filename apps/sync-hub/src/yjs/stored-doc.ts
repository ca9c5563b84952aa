import * as Y from 'yjs';
import type { Notices } from '../store/hub-storage.js';
import type { YjsStore } from '../store/yjs-store.js';
import { YJS_CHANNEL } from './hub-docs.js';

/** A stored document as its rows merge (empty when it has none). */
export async function loadStoredDoc(yjs: YjsStore, name: string): Promise<Y.Doc> {
  const doc = new Y.Doc({ gc: true });
  const rows = await yjs.updates(name);
  if (rows.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(rows.map((r) => r.update)));
  return doc;
}

/**
 * Edits a stored document from outside a hub process (the CLI): loads its
 * rows, runs `edit`, appends what changed as one row and tells running hub
 * processes (NOTIFY), which read the row and pass it on to linked agents.
 * `edit` may throw: then nothing is stored. Returns the document after the
 * edit (the caller destroys it) and whether anything changed.
 */
export async function editStoredDoc(
  storage: { yjs: YjsStore; notices: Notices },
  name: string,
  edit: (doc: Y.Doc) => void,
  now: number,
): Promise<{ doc: Y.Doc; changed: boolean }> {
  const doc = await loadStoredDoc(storage.yjs, name);
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  try {
    edit(doc);
  } catch (e) {
    doc.destroy();
    throw e;
  }
  if (updates.length === 0) return { doc, changed: false };
  await storage.yjs.appendUpdate(name, Y.mergeUpdates(updates), now);
  await storage.notices.notify(YJS_CHANNEL, name).catch(() => undefined);
  return { doc, changed: true };
}
