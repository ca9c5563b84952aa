import * as Y from 'yjs';

/**
 * The catalog and store settings as Yjs documents (docs/decisions.md 23),
 * shared by the hub (`/yjs/<doc>`, HQ edits) and the agents (WebsocketProvider,
 * local items, the POS projection). Imported as `@scoville/protocol/docs`, so
 * code that only speaks the sync protocol does not load yjs.
 *
 * Every field is its own key of one top-level Y.Map (`<sku>|<field>`), never
 * a nested Y.Map per SKU: two replicas that create the same SKU offline would
 * create two nested maps and one would be lost whole; flat keys merge field by
 * field (last writer per field wins). `|` cannot occur in a SKU.
 *
 * - `catalog`: map `items` (the brand's products), map `rules`
 *   (`allowLocalItems`: whether stores may add items of their own; default true).
 * - `settings:<storeId>`: map `overrides` (per SKU `lowStockThreshold`,
 *   `safetyStock`), map `localItems` (items this store added, same fields as the
 *   catalog's, honoured only while `allowLocalItems`), map `info` (free fields:
 *   `openingHours`, `notes`, …).
 */

export const CATALOG_DOC = 'catalog';

export function settingsDocName(store: string): string {
  return `settings:${store}`;
}

export type DocRef = { kind: 'catalog' } | { kind: 'settings'; store: string };

/** `catalog` / `settings:<store>`; null for any other name. */
export function parseDocName(name: string): DocRef | null {
  if (name === CATALOG_DOC) return { kind: 'catalog' };
  if (name.startsWith('settings:') && name.length > 'settings:'.length) return { kind: 'settings', store: name.slice('settings:'.length) };
  return null;
}

/** One product as the documents describe it. */
export interface CatalogEntry {
  sku: string;
  name: string;
  size: string | null;
  priceCents: number | null;
  barcode: string | null;
  active: boolean;
  lowStockThreshold: number;
  safetyStock: number;
}

export type CatalogPatch = Partial<Omit<CatalogEntry, 'sku'>>;

const FIELDS = ['name', 'size', 'priceCents', 'barcode', 'active', 'lowStockThreshold', 'safetyStock'] as const;
const OVERRIDE_FIELDS = ['lowStockThreshold', 'safetyStock'] as const;
export type Override = Partial<Pick<CatalogEntry, (typeof OVERRIDE_FIELDS)[number]>>;

const key = (sku: string, field: string) => `${sku}|${field}`;

function writeFields(map: Y.Map<unknown>, sku: string, patch: Record<string, unknown>, fields: readonly string[]): void {
  for (const f of fields) {
    if (!(f in patch) || patch[f] === undefined) continue;
    const v = patch[f];
    if (v === null && (f === 'lowStockThreshold' || f === 'safetyStock')) map.delete(key(sku, f));
    else if (map.get(key(sku, f)) !== v) map.set(key(sku, f), v);
  }
}

function readItems(map: Y.Map<unknown>): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [k, v] of map.entries()) {
    const i = k.lastIndexOf('|');
    if (i <= 0) continue;
    const sku = k.slice(0, i);
    let rec = out.get(sku);
    if (!rec) out.set(sku, (rec = {}));
    rec[k.slice(i + 1)] = v;
  }
  return out;
}

const num = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function toEntry(sku: string, r: Record<string, unknown>): CatalogEntry | null {
  // An item exists once it has a name (fields of an item never named are stray overrides).
  if (typeof r.name !== 'string') return null;
  return {
    sku,
    name: r.name,
    size: str(r.size),
    priceCents: typeof r.priceCents === 'number' ? r.priceCents : null,
    barcode: str(r.barcode),
    active: r.active !== false,
    lowStockThreshold: num(r.lowStockThreshold, 0),
    safetyStock: num(r.safetyStock, 0),
  };
}

/** Sets the given fields of a catalog item (creating it; `name` is needed for a new one). */
export function putCatalogItem(doc: Y.Doc, sku: string, patch: CatalogPatch): void {
  doc.transact(() => writeFields(doc.getMap('items'), sku, patch, FIELDS));
}

export function catalogItems(doc: Y.Doc): CatalogEntry[] {
  return [...readItems(doc.getMap('items'))]
    .map(([sku, r]) => toEntry(sku, r))
    .filter((x): x is CatalogEntry => x !== null)
    .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
}

export function catalogItem(doc: Y.Doc, sku: string): CatalogEntry | null {
  const map = doc.getMap('items');
  const r: Record<string, unknown> = {};
  for (const f of FIELDS) if (map.has(key(sku, f))) r[f] = map.get(key(sku, f));
  return toEntry(sku, r);
}

export function allowLocalItems(catalog: Y.Doc): boolean {
  return catalog.getMap('rules').get('allowLocalItems') !== false;
}

export function setAllowLocalItems(catalog: Y.Doc, allow: boolean): void {
  catalog.getMap('rules').set('allowLocalItems', allow);
}

/** A store's own items (settings doc). */
export function putLocalItem(settings: Y.Doc, sku: string, patch: CatalogPatch): void {
  settings.transact(() => writeFields(settings.getMap('localItems'), sku, patch, FIELDS));
}

/** Per-store overrides (settings doc); null removes one. */
export function putOverride(settings: Y.Doc, sku: string, o: { lowStockThreshold?: number | null; safetyStock?: number | null }): void {
  settings.transact(() => writeFields(settings.getMap('overrides'), sku, o, OVERRIDE_FIELDS));
}

export function setStoreInfo(settings: Y.Doc, field: string, value: unknown): void {
  settings.getMap('info').set(field, value);
}

export function storeInfo(settings: Y.Doc): Record<string, unknown> {
  return settings.getMap('info').toJSON();
}

function overrides(settings: Y.Doc | null): Map<string, Record<string, unknown>> {
  return settings ? readItems(settings.getMap('overrides')) : new Map();
}

/**
 * What a store sells, with its overrides applied: the catalog's items, plus
 * the store's local items (while allowed; a catalog item of the same SKU wins).
 */
export function effectiveCatalog(catalog: Y.Doc, settings: Y.Doc | null): CatalogEntry[] {
  const items = new Map(catalogItems(catalog).map((i) => [i.sku, i]));
  if (settings && allowLocalItems(catalog)) {
    for (const [sku, r] of readItems(settings.getMap('localItems'))) {
      if (items.has(sku)) continue;
      const e = toEntry(sku, r);
      if (e) items.set(sku, e);
    }
  }
  const ov = overrides(settings);
  for (const [sku, o] of ov) {
    const item = items.get(sku);
    if (!item) continue;
    items.set(sku, { ...item, lowStockThreshold: num(o.lowStockThreshold, item.lowStockThreshold), safetyStock: num(o.safetyStock, item.safetyStock) });
  }
  return [...items.values()].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
}

/** Safety stock of one SKU at one store: the store's override, else the catalog's (or local item's), else 0. */
export function safetyStockOf(catalog: Y.Doc, settings: Y.Doc | null, sku: string): number {
  if (settings) {
    const o = settings.getMap('overrides').get(key(sku, 'safetyStock'));
    if (typeof o === 'number') return o;
  }
  const c = catalog.getMap('items').get(key(sku, 'safetyStock'));
  if (typeof c === 'number' && catalog.getMap('items').has(key(sku, 'name'))) return c;
  if (settings && allowLocalItems(catalog)) {
    const l = settings.getMap('localItems').get(key(sku, 'safetyStock'));
    if (typeof l === 'number') return l;
  }
  return 0;
}

/**
 * Low-stock threshold of one SKU at one store: the store's override, else the
 * catalog item's (or the store's local item's) when set; null when no
 * document sets one (the hub then uses its `--low-stock-threshold`, if any).
 */
export function lowStockThresholdOf(catalog: Y.Doc, settings: Y.Doc | null, sku: string): number | null {
  const f = key(sku, 'lowStockThreshold');
  const o = settings?.getMap('overrides').get(f);
  if (typeof o === 'number') return o;
  const items = catalog.getMap('items');
  const c = items.get(f);
  if (typeof c === 'number' && items.has(key(sku, 'name'))) return c;
  const l = settings && allowLocalItems(catalog) ? settings.getMap('localItems').get(f) : undefined;
  return typeof l === 'number' ? l : null;
}
