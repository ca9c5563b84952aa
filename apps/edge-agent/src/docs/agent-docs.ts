import { rootCertificates } from 'node:tls';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import type { Sku } from '@scoville/crdt-inventory';
import { CATALOG_DOC, effectiveCatalog, putLocalItem, settingsDocName, type CatalogPatch } from '@scoville/protocol/docs';
import type { AgentStore, CatalogItem } from '../store/agent-store.js';

/** Updates read from SQLite at start: not written back. */
const FROM_DISK = Symbol('from-disk');

/** More stored rows than this for one document and they are merged into one. */
export const COMPACT_ABOVE = 100;

/** A terminal is announced in presence while it made a request within this time. */
export const TERMINAL_SEEN_MS = 15 * 60_000;
/** At most this many terminals are announced (the most recently seen). */
export const MAX_TERMINALS = 64;

export interface DocLink {
  /** The hub's sync URL (ws://host:port/sync); the documents are at /yjs/<doc> on the same host. */
  url: string;
  token: string;
  /** PEM CA to trust for a wss:// hub besides the system's (`--hub-ca`), as the sync link does. */
  ca?: string | Buffer;
  /** Presence: what this agent announces (store, replica, url); the terminals seen are added. */
  presence?: Record<string, unknown>;
  /** How long to wait before a reconnect at most (ms). */
  maxBackoffMs?: number;
}

/**
 * The agent's copies of the catalog document and its store's settings
 * document (docs/decisions.md 23). Every update (from the hub, or made here)
 * is appended to SQLite, so the agent starts offline with the last catalog;
 * after each change the `catalog` table (what the POS path reads) is
 * rewritten as the projection: the catalog's items, this store's local items
 * where the catalog allows them, this store's overrides applied.
 */
export class AgentDocs {
  readonly catalog = new Y.Doc();
  readonly settings = new Y.Doc();
  private readonly rows = new Map<string, number>();
  private providers: WebsocketProvider[] = [];
  private projected = new Map<string, string>();
  /** Terminal → when it last made a request (presence). */
  private readonly terminals = new Map<string, number>();
  private presence: Record<string, unknown> | null = null;
  private expireTerminals: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: AgentStore,
    readonly storeId: string,
    private readonly onProjected: () => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {
    const seed = this.store.yjsUpdates(settingsDocName(storeId)).length === 0 && this.store.yjsUpdates(CATALOG_DOC).length === 0 ? this.store.catalog() : [];
    this.projected = new Map(this.store.catalog().map((c) => [c.sku, fingerprint(c)]));
    for (const [name, doc] of this.named()) {
      const rows = this.store.yjsUpdates(name);
      if (rows.length > 0) Y.applyUpdate(doc, Y.mergeUpdates(rows.map((r) => r.update)), FROM_DISK);
      this.rows.set(name, rows.length);
      if (rows.length > COMPACT_ABOVE) this.compact(name, doc);
      doc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin === FROM_DISK) return;
        this.store.appendYjsUpdate(name, update, this.clock());
        const n = (this.rows.get(name) ?? 0) + 1;
        this.rows.set(name, n);
        if (n > COMPACT_ABOVE) this.compact(name, doc);
        this.project();
      });
    }
    // An agent from before the documents: its catalog rows become this store's local items.
    if (seed.length > 0) this.putLocalItems(seed);
    this.project();
  }

  private named(): [string, Y.Doc][] {
    return [
      [CATALOG_DOC, this.catalog],
      [settingsDocName(this.storeId), this.settings],
    ];
  }

  private compact(name: string, doc: Y.Doc): void {
    const rows = this.store.yjsUpdates(name);
    const last = rows.at(-1)?.id;
    if (last === undefined) return;
    this.store.compactYjs(name, last, Y.encodeStateAsUpdate(doc), this.clock());
    this.rows.set(name, 1);
  }

  /** Store manager edits (`catalog import`, PUT /catalog): local items in the store's settings document. */
  putLocalItems(items: readonly (CatalogPatch & { sku: string })[]): void {
    this.settings.transact(() => {
      for (const { sku, ...patch } of items) putLocalItem(this.settings, sku, patch);
    });
  }

  /** What the store sells now (catalog + allowed local items + overrides). */
  items(): CatalogItem[] {
    return effectiveCatalog(this.catalog, this.settings).map((e) => ({
      sku: e.sku as Sku,
      name: e.name,
      priceCents: e.priceCents,
      lowStockThreshold: e.lowStockThreshold,
      safetyStock: e.safetyStock,
      updatedAt: this.clock(),
    }));
  }

  /** Writes the items that changed into the `catalog` table. */
  project(): void {
    const changed = this.items().filter((i) => this.projected.get(i.sku) !== fingerprint(i));
    if (changed.length === 0) return;
    this.store.upsertCatalog(changed);
    for (const i of changed) this.projected.set(i.sku, fingerprint(i));
    this.onProjected();
  }

  /**
   * Syncs both documents with the hub (y-websocket), reconnecting on its own.
   * The token goes in the Authorization header (not the URL, which proxies log);
   * `ca` is trusted besides Node's roots, as the sync link does.
   */
  connect(link: DocLink): void {
    if (this.providers.length > 0) return;
    const base = link.url.replace(/\/sync\/?$/, '').replace(/\/$/, '') + '/yjs';
    const options = {
      headers: { authorization: `Bearer ${link.token}` },
      handshakeTimeout: 10_000,
      ...(link.ca !== undefined ? { ca: [...rootCertificates, link.ca.toString()] } : {}),
    };
    class HubSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, options);
      }
    }
    this.presence = link.presence ?? null;
    for (const [name, doc] of this.named()) {
      this.providers.push(
        new WebsocketProvider(base, name, doc, {
          WebSocketPolyfill: HubSocket as unknown as typeof globalThis.WebSocket,
          disableBc: true,
          maxBackoffTime: link.maxBackoffMs ?? 2_500,
        }),
      );
    }
    this.announce();
    this.expireTerminals = setInterval(() => this.dropStaleTerminals(), 60_000);
    this.expireTerminals.unref();
  }

  /**
   * A till made a request: it is announced in presence (the hub's dashboard
   * shows it under the store) while seen within TERMINAL_SEEN_MS. Awareness
   * changes only when the set of terminals changes, not on every sale.
   */
  sawTerminal(terminal: string | null | undefined): void {
    if (!terminal) return;
    const known = this.terminals.has(terminal);
    this.terminals.delete(terminal);
    this.terminals.set(terminal, this.clock());
    if (known) return;
    if (this.terminals.size > MAX_TERMINALS) this.terminals.delete(this.terminals.keys().next().value!);
    this.announce();
  }

  private dropStaleTerminals(): void {
    const before = this.terminals.size;
    const cutoff = this.clock() - TERMINAL_SEEN_MS;
    for (const [t, at] of this.terminals) if (at < cutoff) this.terminals.delete(t);
    if (this.terminals.size !== before) this.announce();
  }

  private announce(): void {
    if (!this.presence) return;
    const terminals = [...this.terminals.keys()].sort();
    this.named().forEach(([name], i) => this.providers[i]?.awareness.setLocalState({ ...this.presence, doc: name, terminals }));
  }

  /** True once both documents completed a sync with the hub on the current links. */
  synced(): boolean {
    return this.providers.length > 0 && this.providers.every((p) => p.synced);
  }

  status(): { connected: boolean; synced: boolean; items: number } {
    return { connected: this.providers.length > 0 && this.providers.every((p) => p.wsconnected), synced: this.synced(), items: this.projected.size };
  }

  disconnect(): void {
    if (this.expireTerminals) clearInterval(this.expireTerminals);
    this.expireTerminals = null;
    for (const p of this.providers) p.destroy();
    this.providers = [];
  }

  destroy(): void {
    this.disconnect();
    this.catalog.destroy();
    this.settings.destroy();
  }
}

const fingerprint = (c: Omit<CatalogItem, 'updatedAt'>) => JSON.stringify([c.name, c.priceCents, c.lowStockThreshold, c.safetyStock]);
