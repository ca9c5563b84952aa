/**
 * HubDocs keeps safety stock and low-stock thresholds once read; any edit or
 * load of a document drops them. On random edits of the catalog and store
 * settings (items, overrides, local items, the local-items rule, documents
 * loaded later), every read equals reading the documents directly.
 */
import fc from 'fast-check';
import * as Y from 'yjs';
import { describe, expect, it } from 'vitest';
import { CATALOG_DOC, type CatalogPatch, lowStockThresholdOf, putCatalogItem, putLocalItem, putOverride, safetyStockOf, setAllowLocalItems, settingsDocName } from '@scoville/protocol/docs';
import type { Logger } from '../../src/log.js';
import type { YjsStore, YjsUpdateRow } from '../../src/store/yjs-store.js';
import { HubDocs } from '../../src/yjs/hub-docs.js';

const runs = Number(process.env.FC_RUNS ?? 200);
const quiet: Logger = { info() {}, warn() {}, error() {} };
const STORES = ['s1', 's2'];
const SKUS = ['K1', 'K2', 'K3'];

function memoryYjs(): YjsStore {
  const rows = new Map<string, YjsUpdateRow[]>();
  let id = 0;
  return {
    async appendUpdate(doc, update, at) {
      const list = rows.get(doc) ?? [];
      rows.set(doc, list);
      list.push({ id: ++id, update, at } as YjsUpdateRow);
      return id;
    },
    async updates(doc, afterId = 0) {
      return (rows.get(doc) ?? []).filter((r) => r.id > afterId);
    },
    async updateCount(doc) {
      return rows.get(doc)?.length ?? 0;
    },
    async compact() {
      return null;
    },
    async docs() {
      return [...rows.keys()];
    },
  };
}

type Edit =
  | { kind: 'item'; sku: number; safety: number | null; threshold: number | null; named: boolean }
  | { kind: 'override'; store: number; sku: number; safety: number | null; threshold: number | null }
  | { kind: 'local'; store: number; sku: number; safety: number; threshold: number }
  | { kind: 'rule'; allow: boolean }
  | { kind: 'load'; store: number }
  /** Another hub process wrote a store's settings document this one has not loaded yet. */
  | { kind: 'elsewhere'; store: number; sku: number; safety: number; threshold: number }
  | { kind: 'read'; store: number; sku: number };

const opt = fc.option(fc.nat(9), { nil: null });
const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('item' as const), sku: fc.nat(2), safety: opt, threshold: opt, named: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('override' as const), store: fc.nat(1), sku: fc.nat(2), safety: opt, threshold: opt }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('local' as const), store: fc.nat(1), sku: fc.nat(2), safety: fc.nat(9), threshold: fc.nat(9) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rule' as const), allow: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('load' as const), store: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('elsewhere' as const), store: fc.nat(1), sku: fc.nat(2), safety: fc.nat(9), threshold: fc.nat(9) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), store: fc.nat(1), sku: fc.nat(2) }) },
);

async function run(edits: Edit[]): Promise<void> {
  const yjs = memoryYjs();
  const docs = new HubDocs({ yjs, log: quiet });
  await docs.start();
  const catalog = (await docs.get(CATALOG_DOC)).doc;
  const direct = (store: string, sku: string) => {
    const settings = docs.loaded(settingsDocName(store))?.doc ?? null;
    return [safetyStockOf(catalog, settings, sku), lowStockThresholdOf(catalog, settings, sku)];
  };
  const readAll = () => {
    for (const s of STORES) for (const k of SKUS) expect([docs.safetyStock(s, k), docs.lowStockThreshold(s, k)]).toEqual(direct(s, k));
  };
  readAll();
  for (const e of edits) {
    switch (e.kind) {
      case 'item':
        // null removes a figure (as the catalog API does).
        putCatalogItem(catalog, SKUS[e.sku]!, { ...(e.named ? { name: `item ${e.sku}` } : {}), safetyStock: e.safety, lowStockThreshold: e.threshold } as CatalogPatch);
        break;
      case 'override': {
        const settings = docs.loaded(settingsDocName(STORES[e.store]!));
        if (settings) putOverride(settings.doc, SKUS[e.sku]!, { safetyStock: e.safety, lowStockThreshold: e.threshold });
        break;
      }
      case 'local': {
        const settings = docs.loaded(settingsDocName(STORES[e.store]!));
        if (settings) putLocalItem(settings.doc, SKUS[e.sku]!, { name: `local ${e.sku}`, safetyStock: e.safety, lowStockThreshold: e.threshold });
        break;
      }
      case 'rule':
        setAllowLocalItems(catalog, e.allow);
        break;
      case 'elsewhere': {
        const name = settingsDocName(STORES[e.store]!);
        if (docs.loaded(name)) break;
        const other = new Y.Doc();
        putOverride(other, SKUS[e.sku]!, { safetyStock: e.safety, lowStockThreshold: e.threshold });
        await yjs.appendUpdate(name, Y.encodeStateAsUpdate(other), 0);
        break;
      }
      case 'load':
        await docs.get(settingsDocName(STORES[e.store]!));
        break;
      case 'read':
        expect([docs.safetyStock(STORES[e.store]!, SKUS[e.sku]!), docs.lowStockThreshold(STORES[e.store]!, SKUS[e.sku]!)]).toEqual(direct(STORES[e.store]!, SKUS[e.sku]!));
        break;
    }
  }
  readAll();
  await docs.close();
}

describe('HubDocs: safety stock and thresholds kept once read', () => {
  it('every read equals reading the documents, across edits and loads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 40 }), (edits) => run(edits)),
      { numRuns: runs },
    );
  });

  it('a document loaded after start (written by another process, its NOTIFY not here yet) is announced to onChange; an empty one is not', async () => {
    const yjs = memoryYjs();
    const docs = new HubDocs({ yjs, log: quiet });
    await docs.start();
    const heard: string[] = [];
    docs.onChange((name) => heard.push(name));
    const name = settingsDocName('s1');
    const other = new Y.Doc();
    putOverride(other, 'K1', { safetyStock: 4, lowStockThreshold: 2 });
    await yjs.appendUpdate(name, Y.encodeStateAsUpdate(other), 0);
    expect(docs.safetyStock('s1', 'K1')).toBe(0);
    await docs.get(name);
    expect([docs.safetyStock('s1', 'K1'), heard]).toEqual([4, [name]]);
    await docs.get(settingsDocName('s2'));
    expect(heard).toEqual([name]);
    await docs.close();
  });
});
