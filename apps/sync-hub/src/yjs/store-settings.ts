import type * as Y from 'yjs';
import { z } from 'zod';
import { isValidId } from '@scoville/crdt-inventory';
import { putOverride, storeInfo } from '@scoville/protocol/docs';
import { MAX_TARGET_DAYS } from '../http/replenishment-routes.js';

/**
 * A store's settings as HQ reads and edits them (`GET/PUT /stores/:id/settings`,
 * `sync-hub settings get|set`): fields of the store's settings Y.Doc
 * (`settings:<storeId>`, decision 23), so every edit reaches the store's agent
 * over its `/yjs` link and merges with edits made there.
 *
 * - `targetDays`: days of cover the replenishment list restocks to (info `targetDays`);
 * - `openingHours`: per weekday `"09:00-18:00"` (several ranges with `,`) or
 *   `"closed"`; one key per day (info `openingHours|mon`), so two people
 *   editing different days offline both keep their edit;
 * - `notes`: free text (info `notes`);
 * - `overrides`: per SKU `lowStockThreshold` / `safetyStock` (map `overrides`),
 *   which win over the catalog's at this store, at the hub and the agent alike.
 *
 * A PUT is a patch: fields left out stay; `null` removes a field (an override
 * of `null` removes both of the SKU's overrides).
 */

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];
const HOURS = /^(closed|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d(,([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d){0,3})$/;

const count = z.number().int().min(0).max(1_000_000_000);
const hours = z.string().regex(HOURS, 'opening hours are "closed" or ranges like "09:00-12:30,14:00-18:00"');
const override = z.strictObject({ lowStockThreshold: count.nullable().optional(), safetyStock: count.nullable().optional() });

/** The body of `PUT /stores/:id/settings` (and what `settings set` builds from its flags). */
export const settingsPatch = z
  .strictObject({
    targetDays: z.number().int().min(1).max(MAX_TARGET_DAYS).nullable().optional(),
    openingHours: z.partialRecord(z.enum(DAYS), hours.nullable()).nullable().optional(),
    // eslint-disable-next-line no-control-regex
    notes: z.string().max(2_000).regex(/^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/, 'no control characters').nullable().optional(),
    overrides: z
      .record(z.string().refine(isValidId, 'not a valid SKU'), override.nullable())
      .refine((o) => Object.keys(o).length <= 10_000, 'at most 10,000 SKUs per request')
      .optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of targetDays, openingHours, notes, overrides');

export type SettingsPatch = z.infer<typeof settingsPatch>;

export interface StoreSettings {
  storeId: string;
  targetDays: number | null;
  openingHours: Partial<Record<Day, string>>;
  notes: string | null;
  overrides: Record<string, { lowStockThreshold?: number; safetyStock?: number }>;
}

/** Applies a validated patch to a store's settings document, in one transaction (one update). */
export function applySettings(doc: Y.Doc, patch: SettingsPatch): void {
  doc.transact(() => {
    const info = doc.getMap('info');
    if (patch.targetDays !== undefined) setOrDelete(info, 'targetDays', patch.targetDays);
    if (patch.notes !== undefined) setOrDelete(info, 'notes', patch.notes === '' ? null : patch.notes);
    if (patch.openingHours === null) for (const d of DAYS) setOrDelete(info, `openingHours|${d}`, null);
    else if (patch.openingHours) for (const [d, h] of Object.entries(patch.openingHours)) setOrDelete(info, `openingHours|${d}`, h ?? null);
    for (const [sku, o] of Object.entries(patch.overrides ?? {})) putOverride(doc, sku, o ?? { lowStockThreshold: null, safetyStock: null });
  });
}

function setOrDelete(map: Y.Map<unknown>, key: string, value: unknown): void {
  if (value === null) {
    if (map.has(key)) map.delete(key);
  } else if (map.get(key) !== value) map.set(key, value);
}

/** A store's settings as the document holds them (a document never edited: all empty). */
export function readSettings(storeId: string, doc: Y.Doc | null): StoreSettings {
  const info = doc ? storeInfo(doc) : {};
  const openingHours: Partial<Record<Day, string>> = {};
  for (const d of DAYS) if (typeof info[`openingHours|${d}`] === 'string') openingHours[d] = info[`openingHours|${d}`] as string;
  const overrides: StoreSettings['overrides'] = {};
  for (const [k, v] of doc?.getMap('overrides').entries() ?? []) {
    const i = k.lastIndexOf('|');
    const field = k.slice(i + 1);
    if (i <= 0 || typeof v !== 'number' || (field !== 'lowStockThreshold' && field !== 'safetyStock')) continue;
    (overrides[k.slice(0, i)] ??= {})[field] = v;
  }
  return {
    storeId,
    targetDays: targetDaysOf(doc),
    openingHours,
    notes: typeof info.notes === 'string' ? info.notes : null,
    overrides: Object.fromEntries(Object.entries(overrides).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

/** The store's `targetDays` setting, or null when none is set. */
export function targetDaysOf(doc: Y.Doc | null): number | null {
  const v = doc?.getMap('info').get('targetDays');
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_TARGET_DAYS ? v : null;
}
