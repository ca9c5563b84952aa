import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type * as AgentModule from '../agent.js';
import type { StockView } from '../inventory/agent-inventory.js';
import { arg, parseCount, parseDelta, parsePort, parseQty, parseReason, parseSku, parseStore, parseTtl } from './args.js';
import { AgentClient, CliError } from './client.js';
import { exportData } from './export.js';
import { importCatalog } from './catalog-import.js';

/**
 * The agent itself (HTTP server, SQLite, sync, Yjs, metrics) loads only for
 * the commands that open the data folder; the client commands (sell,
 * restock, stock, …) talk to the running agent and start in a fraction of
 * the time.
 */
const loadAgent = (): Promise<typeof AgentModule> => import('../agent.js');
import { table, when } from './format.js';

interface GlobalOpts {
  data: string;
  agent?: string;
  terminalToken?: string;
  json: boolean;
}

const out = (s: string) => process.stdout.write(`${s}\n`);

/** The PEM of `--hub-ca`, read now so a wrong path fails at start, not at the first connect. */
function hubCa(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new CliError('invalid_argument', `cannot read --hub-ca ${file}: ${(e as Error).message}`, 2);
  }
}
const key = () => `cli-${randomUUID()}`;

function stockTable(items: StockView[]): string {
  return table(
    ['sku', 'name', 'on hand', 'held', 'available', 'rights', 'low', 'last change'],
    items.map((i) => [i.sku, i.name, i.onHand, i.held, i.available, i.rights, i.lowStock ? 'LOW' : '', when(i.lastChange)]),
  );
}

export function registerCommands(program: Command): void {
  const g = () => program.opts<GlobalOpts>();
  const client = () => new AgentClient(g());
  const print = (json: unknown, human: () => string) => out(g().json ? JSON.stringify(json, null, 2) : human());

  program
    .command('init')
    .description('create the agent data folder with a new identity for a store')
    .requiredOption('--store <id>', 'store id', parseStore)
    .action(async (o: { store: string }) => {
      const { initAgent } = await loadAgent();
      const r = initAgent(g().data, o.store);
      print(r, () => `initialised store ${r.store}, replica ${r.replica}, in ${r.path}`);
    });

  program
    .command('start')
    .description('serve the POS API, and sync with the hub when --hub is given')
    .option('--host <host>', 'address to listen on (beyond loopback needs --terminal-token)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', parsePort, 7070)
    .option('--hub <url>', 'sync hub WebSocket URL, e.g. ws://127.0.0.1:8080/sync (or SCOVILLE_HUB_URL)')
    .option('--token <token>', 'store token printed by `sync-hub stores add` (or SCOVILLE_HUB_TOKEN)')
    .option('--hub-ca <file>', 'PEM CA certificate to trust for a wss:// hub with a self-signed or private certificate (or SCOVILLE_HUB_CA; NODE_EXTRA_CA_CERTS works too)')
    .action(async (o: { host: string; port: number; hub?: string; token?: string; hubCa?: string }) => {
      const hubUrl = o.hub ?? process.env.SCOVILLE_HUB_URL;
      const hubToken = o.token ?? process.env.SCOVILLE_HUB_TOKEN;
      if (hubUrl && !hubToken) throw new CliError('missing_token', '--hub needs the store token: --token <token>', 2);
      if (hubUrl && !/^wss?:\/\//.test(hubUrl)) throw new CliError('invalid_argument', `--hub must be a ws:// or wss:// URL, got ${hubUrl}`, 2);
      const terminalToken = g().terminalToken ?? process.env.SCOVILLE_TERMINAL_TOKEN ?? null;
      const { startAgent, jsonLineLogger } = await loadAgent();
      const agent = await startAgent({
        dataDir: g().data,
        host: o.host,
        port: o.port,
        terminalToken,
        hub: hubUrl && hubToken ? { url: hubUrl, token: hubToken, ca: hubCa(o.hubCa ?? process.env.SCOVILLE_HUB_CA) } : undefined,
        log: jsonLineLogger(),
      });
      const id = agent.inventory.identity;
      console.log(JSON.stringify({ level: 'info', msg: 'edge agent listening', url: agent.url, store: id.store, replica: id.replica, hub: hubUrl ?? null }));
      const shutdown = (signal: string) => {
        console.log(JSON.stringify({ level: 'info', msg: 'shutting down', signal }));
        agent.stop().then(
          () => process.exit(0),
          (e) => {
            console.error(e);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });

  program
    .command('stock [sku]')
    .description('show stock: on hand, held, available, rights')
    .action(async (sku?: string) => {
      const c = client();
      if (sku !== undefined) {
        const item = await c.request<StockView>('GET', `/stock/${encodeURIComponent(arg(parseSku, sku))}`);
        print(item, () => stockTable([item]));
      } else {
        const all = await c.request<{ items: StockView[] }>('GET', '/stock');
        print(all, () => (all.items.length === 0 ? 'no stock yet' : stockTable(all.items)));
      }
    });

  const lineWrite =
    (path: string, extra: (o: Record<string, unknown>) => Record<string, unknown> = () => ({})) =>
    async (sku: string, qty: number, o: Record<string, unknown>) => {
      const r = await client().request<{ lines: StockView[]; forced?: boolean }>('POST', path, {
        idempotencyKey: key(),
        lines: [{ sku, qty }],
        terminal: 'cli',
        ...extra(o),
      });
      print(r, () => `${r.forced ? 'FORCED (recorded past rights; oversell alert)\n' : ''}${stockTable(r.lines)}`);
    };

  program
    .command('sell <sku> [qty]')
    .description('record a sale (default qty 1)')
    .option('--force', 'record it even without stock rights (the bottle was physically sold)')
    .action(async (sku: string, qty: string | undefined, o: { force?: boolean }) =>
      lineWrite('/sales', () => (o.force ? { force: true } : {}))(arg(parseSku, sku), qty === undefined ? 1 : arg(parseQty, qty), o),
    );

  program
    .command('restock <sku> <qty>')
    .description('record received stock')
    .option('--new', 'accept a SKU the catalog does not know (a new product)')
    .action(async (sku: string, qty: string, o: { new?: boolean }) =>
      lineWrite('/restocks', () => (o.new ? { allowNew: true } : {}))(arg(parseSku, sku), arg(parseQty, qty), o),
    );

  program
    .command('adjust <sku> <delta>')
    .description('adjust stock by a signed delta, with a reason')
    .requiredOption('--reason <reason>', 'damaged, shrinkage, correction, cycle_count, transfer, other', parseReason)
    .option('--new', 'accept a SKU the catalog does not know (a new product)')
    .action(async (sku: string, delta: string, o: { reason: string; new?: boolean }) =>
      lineWrite('/adjustments', () => ({ reason: o.reason, ...(o.new ? { allowNew: true } : {}) }))(arg(parseSku, sku), arg(parseDelta, delta), o),
    );

  program
    .command('count <sku> <qty>')
    .description('set the absolute shelf count (recorded as the adjustment that reaches it)')
    .option('--new', 'accept a SKU the catalog does not know (a new product)')
    .action(async (sku: string, qty: string, o: { new?: boolean }) => {
      const r = await client().request<{ lines: StockView[] }>('POST', '/counts', {
        idempotencyKey: key(),
        lines: [{ sku: arg(parseSku, sku), count: arg(parseCount, qty) }],
        terminal: 'cli',
        ...(o.new ? { allowNew: true } : {}),
      });
      print(r, () => stockTable(r.lines));
    });

  program
    .command('hold <sku> <qty>')
    .description('hold units for a customer (default 15 minutes)')
    .option('--ttl <seconds>', 'how long the hold lasts', parseTtl)
    .action(async (sku: string, qty: string, o: { ttl?: number }) => {
      const r = await client().request<{ holdId: string; expiresAt: number; lines: StockView[] }>('POST', '/holds', {
        idempotencyKey: key(),
        lines: [{ sku: arg(parseSku, sku), qty: arg(parseQty, qty) }],
        terminal: 'cli',
        ...(o.ttl ? { ttlSeconds: o.ttl } : {}),
      });
      print(r, () => `hold ${r.holdId} until ${when(r.expiresAt)}\n${stockTable(r.lines)}`);
    });

  program
    .command('hold-commit <holdId>')
    .description('turn a hold into a sale')
    .action(async (id: string) => {
      const r = await client().request<{ lines: StockView[] }>('POST', `/holds/${encodeURIComponent(id)}/commit`);
      print(r, () => `hold ${id} committed\n${stockTable(r.lines)}`);
    });

  program
    .command('hold-release <holdId>')
    .description('give a hold back to stock')
    .action(async (id: string) => {
      const r = await client().request<{ lines: StockView[] }>('DELETE', `/holds/${encodeURIComponent(id)}`);
      print(r, () => `hold ${id} released\n${stockTable(r.lines)}`);
    });

  program
    .command('status')
    .description('store, replica, online/offline, unacked batches, last sync')
    .action(async () => {
      const s = await client().request<{
        store: string;
        replica: string;
        events: number;
        skus: number;
        sync: { hub: string | null; online: boolean; unackedBatches: number; unackedEvents: number; lastAckAt: number | null; lastError: string | null };
      }>('GET', '/status');
      print(s, () =>
        [
          `store     ${s.store}`,
          `replica   ${s.replica}`,
          `events    ${s.events}`,
          `skus      ${s.skus}`,
          `hub       ${s.sync.hub ?? '(none configured)'}`,
          `sync      ${s.sync.online ? 'online' : 'offline'}`,
          `unacked   ${s.sync.unackedBatches} batches, ${s.sync.unackedEvents} events`,
          `last ack  ${when(s.sync.lastAckAt)}`,
          ...(s.sync.lastError ? [`error     ${s.sync.lastError}`] : []),
        ].join('\n'),
      );
    });

  program
    .command('sync')
    .description('sync now: reconnect to the hub at once if offline, else send what is pending and compare digests')
    .action(async () => {
      const r = await client().request<{ sync: { online: boolean; unackedBatches: number; unackedEvents: number } }>('POST', '/sync');
      print(r, () => `sync started (${r.sync.online ? 'online' : 'offline'}; ${r.sync.unackedBatches} batches, ${r.sync.unackedEvents} events unacked)`);
    });

  program
    .command('verify')
    .description('rebuild the state from the event log and compare (exit 1 on mismatch); works with the agent stopped')
    .action(async () => {
      const [{ openAgent }, { verifyAgent }] = await Promise.all([loadAgent(), import('../verify.js')]);
      const { inventory, store } = openAgent(g().data);
      try {
        const r = verifyAgent(inventory);
        print(r, () =>
          r.ok
            ? `ok: ${r.events} events fold to the stored state (digest ${r.storedDigest})`
            : `MISMATCH after ${r.events} events:\n  ${r.problems.join('\n  ')}`,
        );
        if (!r.ok) process.exitCode = 1;
      } finally {
        store.close();
      }
    });

  program
    .command('export')
    .description('write events or stock as CSV or JSON to stdout (or --out); works with the agent stopped')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--what <what>', 'events or stock', 'events')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o: { format: string; what: string; out?: string }) => {
      if (o.format !== 'csv' && o.format !== 'json') throw new CliError('invalid_format', `--format must be csv or json, got ${o.format}`);
      if (o.what !== 'events' && o.what !== 'stock') throw new CliError('invalid_what', `--what must be events or stock, got ${o.what}`);
      await exportData(g().data, o.what, o.format, o.out);
    });

  const catalog = program.command('catalog').description('the store catalog: names, prices, thresholds');
  catalog
    .command('import <file>')
    .description('import a CSV: sku,name[,price_cents,low_stock_threshold,safety_stock]')
    .action(async (file: string) => {
      const r = await importCatalog(g(), file);
      print(r, () => `imported ${r.imported} items${r.via === 'file' ? ' (agent stopped: written to the data folder)' : ''}`);
    });
  catalog
    .command('list')
    .description('list the catalog')
    .action(async () => {
      const r = await client().request<{ items: { sku: string; name: string; priceCents: number | null; lowStockThreshold: number; safetyStock: number }[] }>(
        'GET',
        '/catalog',
      );
      print(r, () => table(['sku', 'name', 'price', 'low at', 'safety'], r.items.map((i) => [i.sku, i.name, i.priceCents, i.lowStockThreshold, i.safetyStock])));
    });
}
