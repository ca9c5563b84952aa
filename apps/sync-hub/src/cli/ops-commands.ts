import { createHash } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import type { StoreId } from '@scoville/crdt-inventory';
import { settingsDocName } from '@scoville/protocol/docs';
import { newSecret } from '../auth/tokens.js';
import type { HubOptions } from '../hub.js';
import { DEFAULT_TARGET_DAYS, replenishmentTable, storeReplenishment } from '../replenishment/replenishment.js';
import { HubState } from '../state/hub-state.js';
import type { HubStorage } from '../store/hub-storage.js';
import { StockViews } from '../storefront/views.js';
import { HubDocs } from '../yjs/hub-docs.js';
import { targetDaysOf } from '../yjs/store-settings.js';

export interface OpsCliDeps {
  withStorage: <T>(fn: (s: HubStorage) => Promise<T>) => Promise<T>;
  out: (json: unknown, human: string) => void;
  storeArg: (v: string) => string;
  fail: (code: string, message: string, exitCode?: number) => Error;
}

const whole = (name: string, min: number) => (v: string) => {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}, got ${v}`);
  return Number(v);
};
const minutes = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--offline-alert-minutes must be a number > 0, got ${v}`);
  return n;
};
const httpUrl = (v: string) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`not a URL: ${v}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`the webhook must be http(s), got ${v}`);
  return v;
};
/** What `webhook show` prints instead of the secret. */
const fingerprint = (secret: string) => `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;

/** `start`'s alert options (added by registerOpsCommands). */
export function alertOptions(program: Command): Pick<HubOptions, 'lowStockThreshold' | 'offlineAlertMinutes' | 'bulkExpiriesPerMinute' | 'alertWebhook'> {
  const o = program.commands.find((c) => c.name() === 'start')!.opts<{ lowStockThreshold?: number; offlineAlertMinutes: number; bulkExpiries: number; alertWebhook?: string }>();
  return {
    lowStockThreshold: o.lowStockThreshold ?? null,
    offlineAlertMinutes: o.offlineAlertMinutes,
    bulkExpiriesPerMinute: o.bulkExpiries,
    alertWebhook: { url: o.alertWebhook ?? null, secret: process.env.SCOVILLE_ALERT_WEBHOOK_SECRET || null },
  };
}

/**
 * Alerts and replenishment on the command line: `start`'s alert options,
 * `webhook set|show|clear` (the stored webhook and its signing secret,
 * docs/decisions.md 25) and `replenishment --store S`.
 */
export function registerOpsCommands(program: Command, deps: OpsCliDeps): void {
  program.commands
    .find((c) => c.name() === 'start')!
    .option('--low-stock-threshold <n>', 'low-stock threshold where the catalog and store settings set none (default: none)', whole('--low-stock-threshold', 0))
    .option('--offline-alert-minutes <n>', 'alert when a store has been offline this long', minutes, 10)
    .option('--bulk-expiries <n>', 'alert when more holds than this expire within a minute at one store', whole('--bulk-expiries', 1), 20)
    .option('--alert-webhook <url>', 'POST every alert change here, signed with the stored secret or $SCOVILLE_ALERT_WEBHOOK_SECRET (default: the URL of `webhook set`)', httpUrl);

  const webhook = program.command('webhook').description('the alert webhook: every alert change POSTed as JSON, HMAC-SHA256 signed (X-Scoville-Signature)');
  webhook
    .command('set <url>')
    .description('set the webhook and its signing secret (running hubs use it within 5 s); without --secret one is generated and shown once')
    .option('--secret <secret>', 'the HMAC-SHA256 key the receiver checks signatures with')
    .action(async (url: string, o: { secret?: string }) => {
      try {
        httpUrl(url);
      } catch (e) {
        throw deps.fail('invalid_argument', (e as Error).message, 2);
      }
      if (o.secret !== undefined && o.secret.length < 16) throw deps.fail('invalid_argument', 'the secret must be at least 16 characters', 2);
      const secret = o.secret ?? newSecret('whsec');
      await deps.withStorage(async (s) => {
        await s.alerts.setWebhook({ url, secret }, Date.now());
        await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'webhook.set', detail: { url, secret: fingerprint(secret) } });
      });
      deps.out(
        { url, ...(o.secret === undefined ? { secret } : {}), fingerprint: fingerprint(secret) },
        `alert webhook ${url}${o.secret === undefined ? `; its signing secret (shown once):\n${secret}` : ` (secret ${fingerprint(secret)})`}`,
      );
    });
  webhook.command('show').action(async () => {
    const w = await deps.withStorage((s) => s.alerts.webhook());
    const view = w && { url: w.url, secret: w.secret === null ? null : fingerprint(w.secret), updatedAt: new Date(w.updatedAt).toISOString() };
    deps.out(view, view ? `${view.url}\tsecret ${view.secret ?? 'none'}\tset ${view.updatedAt}` : 'no webhook');
  });
  webhook.command('clear').action(async () => {
    await deps.withStorage(async (s) => {
      await s.alerts.setWebhook(null, Date.now());
      await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'webhook.clear', detail: {} });
    });
    deps.out({ cleared: true }, 'alert webhook removed');
  });

  program
    .command('replenishment')
    .description('sales velocity (units/day over 1, 7, 28 days), days of cover and what to order per SKU of a store, runs out first first')
    .requiredOption('--store <id>', 'the store')
    .option('--target-days <n>', `days of cover to restock to (default: the store's targetDays setting, else ${DEFAULT_TARGET_DAYS})`, whole('--target-days', 1))
    .action(async (o: { store: string; targetDays?: number }) => {
      const store = deps.storeArg(o.store) as StoreId;
      const r = await deps.withStorage(async (s) => {
        // The same numbers as GET /replenishment: stock from the stored state, safety stock from the documents.
        const state = new HubState();
        state.apply((await s.inventory.loadState()).delta);
        const docs = new HubDocs({ yjs: s.yjs, log: { info() {}, warn() {}, error() {} } });
        await docs.start();
        try {
          const views = new StockViews({ state, isOnline: () => false, clock: Date.now, safetyStock: (st, sku) => docs.safetyStock(st, sku) });
          return await storeReplenishment(store, { replenishment: s.replenishment, stock: (st) => views.skusOf(st).map((sku) => views.storeStock(st, sku)), now: Date.now() }, o.targetDays ?? targetDaysOf(docs.loaded(settingsDocName(store))?.doc ?? null) ?? DEFAULT_TARGET_DAYS);
        } finally {
          await docs.close();
        }
      });
      deps.out(r, replenishmentTable(r));
    });
}
