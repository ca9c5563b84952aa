import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CATALOG_DOC, settingsDocName } from '@scoville/protocol/docs';
import type { HubStorage } from '../store/hub-storage.js';
import { validate } from '../http/selling-schemas.js';
import { applyCatalogRows, CatalogImportError, parseCatalogCsv } from '../yjs/catalog-edits.js';
import { editStoredDoc, loadStoredDoc } from '../yjs/stored-doc.js';
import { applySettings, DAYS, readSettings, settingsPatch, type StoreSettings } from '../yjs/store-settings.js';

export interface DocumentCliDeps {
  withStorage: <T>(fn: (s: HubStorage) => Promise<T>) => Promise<T>;
  out: (json: unknown, human: string) => void;
  storeArg: (v: string) => string;
  /** An error the CLI reports with a code (exit 2 for bad arguments). */
  fail: (code: string, message: string, exitCode?: number) => Error;
}

/** `none` → null (remove the setting); a whole number → that number; anything else is left for the validator to refuse. */
const numberOrNone = (v: string): unknown => (v === 'none' ? null : /^\d+$/.test(v) ? Number(v) : v);

/**
 * `sync-hub settings get|set <store>` and `sync-hub catalog import <file>`:
 * edits of the Yjs documents written straight to the database (one appended
 * update, audited); running hubs read it at once (NOTIFY) and pass it to the
 * linked agents. The same validation as `PUT /stores/:id/settings` and
 * `POST /catalog/import`.
 */
export function registerDocumentCommands(program: Command, deps: DocumentCliDeps): void {
  const knownStore = async (s: HubStorage, store: string) => {
    if (!(await s.access.listStores()).some((x) => x.storeId === store)) throw deps.fail('unknown_store', `no store ${store}`);
  };

  const settings = program.command('settings').description("a store's settings (replenishment target, opening hours, notes, per-SKU overrides): its settings document, synced to its agent");
  settings
    .command('get <storeId>')
    .description("show a store's settings")
    .action(async (id: string) => {
      const store = deps.storeArg(id);
      const r = await deps.withStorage(async (s) => {
        await knownStore(s, store);
        const doc = await loadStoredDoc(s.yjs, settingsDocName(store));
        try {
          return readSettings(store, doc);
        } finally {
          doc.destroy();
        }
      });
      deps.out(r, describe(r));
    });
  settings
    .command('set <storeId>')
    .description('change the settings given (the rest stay); `none` removes a setting')
    .option('--target-days <n|none>', 'days of cover the replenishment list restocks to (1-365)')
    .option('--hours <day=hours>', `opening hours of a day (${DAYS.join(' ')}): 09:00-18:00, 09:00-12:30,14:00-18:00, closed, or none (repeatable)`, (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--notes <text>', 'free notes (an empty string removes them)')
    .option('--sku <sku>', 'the SKU of --safety-stock / --low-stock (overrides of the catalog at this store)')
    .option('--safety-stock <n|none>', 'units kept back from what is sold online at this store')
    .option('--low-stock <n|none>', 'low-stock alert threshold at this store')
    .option('--body <json>', 'the settings as `PUT /stores/:id/settings` takes them (instead of the flags)')
    .action(async (id: string, o: { targetDays?: string; hours: string[]; notes?: string; sku?: string; safetyStock?: string; lowStock?: string; body?: string }) => {
      const store = deps.storeArg(id);
      const raw = o.body !== undefined ? parseBody(o.body) : patchFromFlags(o);
      const patch = validate(settingsPatch, raw);
      if (!patch.ok) throw deps.fail('invalid_argument', patch.message, 2);
      const r = await deps.withStorage(async (s) => {
        await knownStore(s, store);
        const { doc } = await editStoredDoc(s, settingsDocName(store), (d) => applySettings(d, patch.data), Date.now());
        await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'settings.put', detail: { storeId: store, ...patch.data } });
        try {
          return readSettings(store, doc);
        } finally {
          doc.destroy();
        }
      });
      deps.out(r, describe(r));
    });

  function parseBody(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw deps.fail('invalid_argument', '--body is not valid JSON', 2);
    }
  }

  function patchFromFlags(o: { targetDays?: string; hours: string[]; notes?: string; sku?: string; safetyStock?: string; lowStock?: string }): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    if (o.targetDays !== undefined) raw.targetDays = numberOrNone(o.targetDays);
    if (o.notes !== undefined) raw.notes = o.notes === '' ? null : o.notes;
    if (o.hours.length > 0) {
      const hours: Record<string, unknown> = {};
      for (const h of o.hours) {
        const [day, value] = h.split('=', 2);
        if (value === undefined) throw deps.fail('invalid_argument', `--hours takes day=hours, got ${h}`, 2);
        hours[day!.trim().toLowerCase()] = value === 'none' ? null : value.trim();
      }
      raw.openingHours = hours;
    }
    if ((o.safetyStock !== undefined || o.lowStock !== undefined) !== (o.sku !== undefined)) throw deps.fail('invalid_argument', '--sku goes with --safety-stock and/or --low-stock', 2);
    if (o.sku !== undefined) {
      raw.overrides = {
        [o.sku]: {
          ...(o.safetyStock !== undefined ? { safetyStock: numberOrNone(o.safetyStock) } : {}),
          ...(o.lowStock !== undefined ? { lowStockThreshold: numberOrNone(o.lowStock) } : {}),
        },
      };
    }
    return raw;
  }

  const catalog = program.command('catalog').description('the shared catalog document (HQ edits, synced to every agent)');
  catalog
    .command('import <file>')
    .description('import a catalog CSV (header sku,name[,size,price_cents,barcode,active,low_stock_threshold,safety_stock]): all rows or none')
    .action(async (file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw deps.fail('file_unreadable', `cannot read ${file}: ${(e as Error).message}`);
      }
      const r = await deps.withStorage(async (s) => {
        let result = { imported: 0, created: 0 };
        try {
          const { doc } = await editStoredDoc(s, CATALOG_DOC, (d) => (result = applyCatalogRows(d, parseCatalogCsv(text, d))), Date.now());
          doc.destroy();
        } catch (e) {
          if (e instanceof CatalogImportError) throw deps.fail(e.code, `${file}${e.row === null ? '' : `:${e.row}`}: ${e.reason} (nothing was imported)`);
          throw e;
        }
        await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'catalog.import', detail: { file, ...result } });
        return result;
      });
      deps.out(r, `imported ${r.imported} items (${r.created} new) into the catalog`);
    });
}

function describe(r: StoreSettings): string {
  const hours = DAYS.filter((d) => r.openingHours[d] !== undefined).map((d) => `${d} ${r.openingHours[d]}`);
  const lines = [
    `store         ${r.storeId}`,
    `target days   ${r.targetDays ?? '(default)'}`,
    `hours         ${hours.length > 0 ? hours.join(', ') : '(none)'}`,
    `notes         ${r.notes ?? '(none)'}`,
  ];
  for (const [sku, o] of Object.entries(r.overrides)) lines.push(`override      ${sku}: ${Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}
