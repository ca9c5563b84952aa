import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { CATALOG_DOC, lowStockThresholdOf, parseDocName, safetyStockOf, settingsDocName } from '@scoville/protocol/docs';
import type { Logger } from '../log.js';
import type { Notices } from '../store/hub-storage.js';
import type { YjsStore } from '../store/yjs-store.js';

/** Updates applied from the database (loaded, or another hub process's): not written back. */
export const FROM_STORE = Symbol('from-store');

/** More rows than this for one document and they are merged into one. */
export const COMPACT_ABOVE = 100;

/** Figures read from the documents and kept (safety stock, thresholds) before they are all dropped. */
const MAX_CACHED = 250_000;

/** NOTIFY channel: a document's rows changed (payload: its name). */
export const YJS_CHANNEL = 'scoville_yjs';

export interface LoadedDoc {
  name: string;
  doc: Y.Doc;
  awareness: Awareness;
  /** Highest row id applied from the database. */
  lastId: number;
  /** Rows the database holds for it (as far as this process knows). */
  rows: number;
  /** Appends in order; resolves when every update so far is durable. */
  writes: Promise<void>;
}

export interface HubDocsOptions {
  yjs: YjsStore;
  notices?: Notices;
  log: Logger;
  clock?: () => number;
}

/**
 * The hub's copies of the Yjs documents (the catalog, every store's
 * settings), kept in memory: each update made here (a client's, an API
 * edit) is appended to the YjsStore before `flush` resolves; other hub
 * processes hear of it by NOTIFY and read the rows they lack. Reads (safety
 * stock for availability, GET /catalog) are synchronous, from memory.
 */
export class HubDocs {
  private readonly docs = new Map<string, LoadedDoc>();
  private readonly loading = new Map<string, Promise<LoadedDoc>>();
  private unlisten: (() => Promise<void>) | null = null;
  private readonly changed = new Set<(name: string) => void>();
  private closed = false;
  /**
   * Safety stock and low-stock thresholds as read from the documents, per
   * store and SKU: every committed change reads them (storefront feed,
   * alert checks), and reading a Y.Map builds a key string and walks Yjs
   * items. Dropped whenever any document changes or loads.
   */
  private readonly safety = new Map<string, Map<string, number>>();
  private readonly thresholds = new Map<string, Map<string, number | null>>();
  private cached = 0;
  /** start() has loaded the documents: a document loaded from now on changes what readers saw. */
  private started = false;

  constructor(private readonly opts: HubDocsOptions) {}

  /** Loads the catalog and every stored settings document; starts hearing other processes. */
  async start(): Promise<void> {
    if (this.opts.notices) this.unlisten = await this.opts.notices.listen(YJS_CHANNEL, (name) => void this.refresh(name).catch(() => undefined));
    await this.get(CATALOG_DOC);
    for (const name of await this.opts.yjs.docs()) if (parseDocName(name)) await this.get(name);
    this.started = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.unlisten?.().catch(() => undefined);
    await Promise.all([...this.docs.values()].map((d) => d.writes));
    for (const d of this.docs.values()) {
      d.awareness.destroy();
      d.doc.destroy();
    }
  }

  /** Called after any document changed (here or elsewhere), with its name. */
  onChange(listener: (name: string) => void): () => void {
    this.changed.add(listener);
    return () => this.changed.delete(listener);
  }

  loaded(name: string): LoadedDoc | undefined {
    return this.docs.get(name);
  }

  get(name: string): Promise<LoadedDoc> {
    const have = this.docs.get(name);
    if (have) return Promise.resolve(have);
    let p = this.loading.get(name);
    if (!p) {
      p = this.load(name).finally(() => this.loading.delete(name));
      this.loading.set(name, p);
    }
    return p;
  }

  private async load(name: string): Promise<LoadedDoc> {
    const rows = await this.opts.yjs.updates(name);
    const doc = new Y.Doc({ gc: true });
    if (rows.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(rows.map((r) => r.update)), FROM_STORE);
    const awareness = new Awareness(doc);
    awareness.setLocalState(null);
    const d: LoadedDoc = { name, doc, awareness, lastId: rows.at(-1)?.id ?? 0, rows: rows.length, writes: Promise.resolve() };
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      this.forget();
      for (const l of this.changed) l(name);
      if (origin !== FROM_STORE) this.persist(d, update);
    });
    this.docs.set(name, d);
    this.forget();
    // Written by another process whose NOTIFY is not here yet (a client asked
    // for it first): its figures are new to every reader, and the NOTIFY's
    // refresh will find no rows it lacks, so this is the one announcement.
    if (this.started && rows.length > 0) for (const l of this.changed) l(name);
    if (d.rows > COMPACT_ABOVE) this.compactLater(d);
    return d;
  }

  /** Resolves once every update of `name` made so far is in the database. */
  async flush(name: string): Promise<void> {
    const d = this.docs.get(name);
    if (d) await d.writes;
  }

  private persist(d: LoadedDoc, update: Uint8Array): void {
    d.writes = d.writes.then(async () => {
      // The database may be down for a while: keep the update and retry (clients already have it).
      for (let attempt = 0; !this.closed || attempt === 0; attempt++) {
        try {
          await this.opts.yjs.appendUpdate(d.name, update, this.now());
          d.rows++;
          break;
        } catch (e) {
          if (attempt % 10 === 0) this.opts.log.warn('yjs update not stored yet, retrying', { doc: d.name, err: String(e) });
          await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
        }
      }
      await this.opts.notices?.notify(YJS_CHANNEL, d.name).catch(() => undefined);
      if (d.rows > COMPACT_ABOVE) this.compactLater(d);
    });
  }

  private compactLater(d: LoadedDoc): void {
    d.writes = d.writes.then(async () => {
      try {
        const rows = await this.opts.yjs.updates(d.name, 0);
        const last = rows.at(-1)?.id;
        if (last === undefined) return;
        await this.opts.yjs.compact(d.name, last, (u) => Y.mergeUpdates(u), this.now());
        d.rows = await this.opts.yjs.updateCount(d.name);
      } catch (e) {
        this.opts.log.warn('yjs compaction failed (tried again later)', { doc: d.name, err: String(e) });
      }
    });
  }

  /** Reads the rows another process appended (after its NOTIFY). */
  private async refresh(name: string): Promise<void> {
    if (this.closed || !parseDocName(name)) return;
    const d = this.docs.get(name);
    if (!d) {
      // Loading it announces it (see load).
      await this.get(name);
      return;
    }
    const rows = await this.opts.yjs.updates(name, d.lastId);
    if (rows.length === 0) return;
    d.lastId = rows.at(-1)!.id;
    Y.applyUpdate(d.doc, Y.mergeUpdates(rows.map((r) => r.update)), FROM_STORE);
  }

  /** Safety stock of `sku` at `store`: the store's override, else the catalog's, else 0. */
  safetyStock(store: string, sku: string): number {
    return this.figure(this.safety, store, sku, safetyStockOf, 0);
  }

  /** Low-stock threshold of `sku` at `store` the documents set (override, catalog, local item), or null. */
  lowStockThreshold(store: string, sku: string): number | null {
    return this.figure(this.thresholds, store, sku, lowStockThresholdOf, null);
  }

  /** A figure of the documents, kept in `cache` once read; `none` without a catalog. */
  private figure<V>(
    cache: Map<string, Map<string, V>>,
    store: string,
    sku: string,
    read: (catalog: Y.Doc, settings: Y.Doc | null, sku: string) => V,
    none: V,
  ): V {
    let bySku = cache.get(store);
    const known = bySku?.get(sku);
    if (known !== undefined) return known;
    const catalog = this.docs.get(CATALOG_DOC);
    const v = catalog ? read(catalog.doc, this.docs.get(settingsDocName(store))?.doc ?? null, sku) : none;
    if (this.cached >= MAX_CACHED) {
      this.forget();
      bySku = undefined;
    }
    if (bySku === undefined) cache.set(store, (bySku = new Map()));
    bySku.set(sku, v);
    this.cached++;
    return v;
  }

  private forget(): void {
    this.safety.clear();
    this.thresholds.clear();
    this.cached = 0;
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }
}
