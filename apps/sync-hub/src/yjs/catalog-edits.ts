import type * as Y from 'yjs';
import { z } from 'zod';
import { CsvError, parse } from 'csv-parse/sync';
import { isValidId } from '@scoville/crdt-inventory';
import { catalogItem, putCatalogItem, type CatalogPatch } from '@scoville/protocol/docs';

/**
 * HQ edits of the catalog document: the fields of one item (`PUT /catalog/:sku`)
 * and the CSV import (`POST /catalog/import`, `sync-hub catalog import`).
 * An import is validated whole before anything is written, then applied in
 * one transaction: one Yjs update, all rows or none.
 */

const count = z.number().int().min(0).max(1_000_000_000);
// eslint-disable-next-line no-control-regex
const printable = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters');

/** The fields of one catalog item (`PUT /catalog/:sku`: `name` is required). */
export const catalogFields = z.strictObject({
  name: printable(200).min(1),
  size: printable(100).nullable().optional(),
  priceCents: count.nullable().optional(),
  barcode: printable(64).nullable().optional(),
  active: z.boolean().optional(),
  lowStockThreshold: count.optional(),
  safetyStock: count.optional(),
});
/** A CSV row: `name` may be left empty for an item the catalog already has (its name stays). */
const csvRow = catalogFields.extend({ name: printable(200).min(1).optional() });

export const MAX_IMPORT_ROWS = 100_000;

/** CSV columns (header names are matched without case or `_`): sku and name, then any of the others. */
const COLUMNS: Record<string, keyof z.infer<typeof csvRow> | 'sku'> = {
  sku: 'sku',
  name: 'name',
  size: 'size',
  pricecents: 'priceCents',
  barcode: 'barcode',
  active: 'active',
  lowstockthreshold: 'lowStockThreshold',
  safetystock: 'safetyStock',
};
export const CSV_COLUMNS = 'sku,name,size,price_cents,barcode,active,low_stock_threshold,safety_stock';

export interface ImportRow {
  /** Line of the file the row ends on (1 is the header). */
  line: number;
  sku: string;
  patch: CatalogPatch;
}

/** Why a file is refused: `row` is its line number (null: the file as a whole). */
export class CatalogImportError extends Error {
  readonly code = 'invalid_csv';
  constructor(
    readonly row: number | null,
    /** What is wrong, without the line. */
    readonly reason: string,
  ) {
    super(row === null ? reason : `line ${row}: ${reason}`);
  }
}

const BOOLEAN: Record<string, boolean> = { true: true, yes: true, '1': true, false: false, no: false, '0': false };

/**
 * Parses and validates a whole catalog CSV against the catalog `doc` (to know
 * which SKUs exist); throws CatalogImportError at the first bad row.
 */
export function parseCatalogCsv(text: string, doc: Y.Doc): ImportRow[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, trim: true, skip_empty_lines: true, info: true, relax_column_count: false, max_record_size: 64 * 1024 }) as unknown as typeof records;
  } catch (e) {
    if (e instanceof CsvError) throw new CatalogImportError((e as CsvError & { lines?: number }).lines ?? null, `not valid CSV: ${e.message.replace(/^Invalid Record Length: /, '')}`);
    throw e;
  }
  const header = records.shift()?.record.map((h) => h.toLowerCase().replace(/[_\s-]/g, '')) ?? [];
  const fields = header.map((h) => COLUMNS[h]);
  const unknown = header.filter((h, i) => fields[i] === undefined);
  if (unknown.length > 0) throw new CatalogImportError(1, `unknown column(s) ${unknown.join(', ')} (known: ${CSV_COLUMNS})`);
  if (!fields.includes('sku') || !fields.includes('name')) throw new CatalogImportError(1, `the first line must be a header with at least sku,name (known: ${CSV_COLUMNS})`);
  if (new Set(fields).size !== fields.length) throw new CatalogImportError(1, 'a column appears twice');
  if (records.length > MAX_IMPORT_ROWS) throw new CatalogImportError(null, `at most ${MAX_IMPORT_ROWS} rows per file, this one has ${records.length}`);
  const seen = new Set<string>();
  return records.map(({ record, info }) => {
    const line = info.lines;
    const raw: Record<string, unknown> = {};
    let sku = '';
    record.forEach((cell, i) => {
      const f = fields[i]!;
      if (f === 'sku') sku = cell;
      else if (cell === '') return;
      else if (f === 'active') raw[f] = BOOLEAN[cell.toLowerCase()] ?? cell;
      else if (f === 'priceCents' || f === 'lowStockThreshold' || f === 'safetyStock') raw[f] = /^-?\d+$/.test(cell) ? Number(cell) : cell;
      else raw[f] = cell;
    });
    if (!isValidId(sku)) throw new CatalogImportError(line, `"${sku}" is not a valid SKU`);
    if (seen.has(sku)) throw new CatalogImportError(line, `SKU ${sku} appears twice in the file`);
    seen.add(sku);
    const r = csvRow.safeParse(raw);
    if (!r.success) throw new CatalogImportError(line, `${sku}: ${r.error.issues.map((i) => `${String(i.path[0] ?? 'row')} ${i.message}`).join('; ')}`);
    if (r.data.name === undefined && catalogItem(doc, sku) === null) throw new CatalogImportError(line, `${sku} is not in the catalog yet: give it a name`);
    return { line, sku, patch: r.data };
  });
}

/** Writes validated rows into the catalog document in one transaction; counts the SKUs it created. */
export function applyCatalogRows(doc: Y.Doc, rows: readonly ImportRow[]): { imported: number; created: number } {
  let created = 0;
  doc.transact(() => {
    for (const r of rows) {
      if (catalogItem(doc, r.sku) === null) created++;
      putCatalogItem(doc, r.sku, r.patch);
    }
  });
  return { imported: rows.length, created };
}
