import { readFileSync } from 'node:fs';
import { isValidId, type Sku } from '@scoville/crdt-inventory';
import { allowLocalItems } from '@scoville/protocol/docs';
import { readRuntime } from '../data-dir.js';
import type { CatalogItem } from '../store/agent-store.js';
import { AgentClient, CliError } from './client.js';
import { CsvError, parseCsv } from './csv.js';
import { ProgressBar } from './progress.js';

const CHUNK = 1_000;
const COLUMNS = ['sku', 'name', 'price_cents', 'low_stock_threshold', 'safety_stock'] as const;

type Row = Omit<CatalogItem, 'updatedAt'>;

/** Reads and validates the whole file first: one bad row and nothing is imported. */
export function readCatalogCsv(file: string): Row[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError('file_unreadable', `cannot read ${file}: ${(e as Error).message}`);
  }
  let rows: string[][];
  try {
    rows = parseCsv(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new CliError('invalid_csv', `${file}: ${(e as CsvError).message}`);
  }
  const header = (rows.shift() ?? []).map((h) => h.trim().toLowerCase());
  const col = (name: string) => header.indexOf(name);
  if (col('sku') < 0 || col('name') < 0) {
    throw new CliError('invalid_csv', `${file}: the first line must be a header with at least sku,name (optional: ${COLUMNS.slice(2).join(',')})`);
  }
  const unknown = header.filter((h) => !(COLUMNS as readonly string[]).includes(h));
  if (unknown.length > 0) throw new CliError('invalid_csv', `${file}: unknown column(s) ${unknown.join(', ')}`);
  const seen = new Set<string>();
  return rows.map((r, i) => {
    const line = i + 2;
    const cell = (name: string) => (col(name) >= 0 ? (r[col(name)] ?? '').trim() : '');
    const num = (name: string, fallback: number | null) => {
      const v = cell(name);
      if (v === '') return fallback;
      if (!/^\d+$/.test(v) || Number(v) > 1e9) throw new CliError('invalid_csv', `${file}:${line}: ${name} must be a whole number from 0 to 1000000000, got "${v}"`);
      return Number(v);
    };
    const sku = cell('sku');
    if (!isValidId(sku)) throw new CliError('invalid_csv', `${file}:${line}: "${sku}" is not a valid SKU`);
    if (seen.has(sku)) throw new CliError('invalid_csv', `${file}:${line}: SKU ${sku} appears twice`);
    seen.add(sku);
    const name = cell('name');
    // eslint-disable-next-line no-control-regex
    if (name === '' || name.length > 200 || /[\u0000-\u001f\u007f]/.test(name)) {
      throw new CliError('invalid_csv', `${file}:${line}: name must be 1-200 printable characters`);
    }
    return {
      sku: sku as Sku,
      name,
      priceCents: num('price_cents', null),
      lowStockThreshold: num('low_stock_threshold', 0) ?? 0,
      safetyStock: num('safety_stock', 0) ?? 0,
    };
  });
}

export async function importCatalog(
  opts: { data: string; agent?: string; terminalToken?: string },
  file: string,
): Promise<{ imported: number; via: 'api' | 'file' }> {
  const rows = readCatalogCsv(file);
  const bar = new ProgressBar(rows.length, 'importing');
  const running = opts.agent ?? readRuntime(opts.data)?.url;
  if (running) {
    const client = new AgentClient(opts);
    for (let i = 0; i < rows.length; i += CHUNK) {
      await client.request('PUT', '/catalog', { items: rows.slice(i, i + CHUNK) });
      bar.update(Math.min(rows.length, i + CHUNK));
    }
    bar.done();
    return { imported: rows.length, via: 'api' };
  }
  // Not running: the same edit of the store's settings document (local items), stored for the next sync.
  const { openAgent } = await import('../agent.js');
  const { store, docs } = openAgent(opts.data);
  try {
    if (!allowLocalItems(docs.catalog)) throw new CliError('local_items_not_allowed', 'the catalog does not allow stores to add items of their own');
    for (let i = 0; i < rows.length; i += CHUNK) {
      store.transaction(() => docs.putLocalItems(rows.slice(i, i + CHUNK)));
      bar.update(Math.min(rows.length, i + CHUNK));
    }
  } finally {
    docs.destroy();
    store.close();
  }
  bar.done();
  return { imported: rows.length, via: 'file' };
}
