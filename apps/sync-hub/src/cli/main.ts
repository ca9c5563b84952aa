import { Command, InvalidArgumentError } from 'commander';
import { MAX_STORE_ID_LENGTH, isValidStoreId, type StoreId } from '@scoville/crdt-inventory';
import { newSecret, hashSecret } from '../auth/tokens.js';
import { openSqlClient } from '../db/open.js';
import { formatRanges, verifyStores } from '../verify.js';
import type { ApiRole } from '../store/access-store.js';
import type { HubStorage } from '../store/hub-storage.js';
import { openHubStorage } from '../store/sql-hub-storage.js';
import { registerAllocationCommands } from './allocation-commands.js';
import { registerDocumentCommands } from './document-commands.js';
import { alertOptions, registerOpsCommands } from './ops-commands.js';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { ACCESS_CHANGED } from '../store/access-store.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMIT_IP, DEFAULT_RATE_LIMIT_KEY } from '../http/protection.js';
import { DEFAULT_EXCHANGE } from '../export/amqp-sink.js';

interface Global {
  json: boolean;
  data: string;
  databaseUrl?: string;
}

const program = new Command();
program
  .name('sync-hub')
  .description('Scoville sync hub: merges every store, persists to PostgreSQL, serves availability')
  .version(`sync-hub ${(createRequire(import.meta.url)('../../package.json') as { version: string }).version} (node ${process.version})`, '-V, --version')
  .option('--json', 'machine-readable output', false)
  .option('--data <dir>', 'PGlite data folder when DATABASE_URL is not set', process.env.SCOVILLE_HUB_DATA ?? './.scoville/hub')
  .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL; none: embedded PGlite)', process.env.DATABASE_URL)
  .showHelpAfterError()
  // Usage errors follow --json too: scripts parse stderr as {error:{code,message}}.
  .configureOutput({
    outputError: (str, write) =>
      write(process.argv.includes('--json') ? `${JSON.stringify({ error: { code: 'usage', message: str.replace(/^error: /, '').trim() } })}\n` : str),
  });
// Before the subcommands exist: they copy the exit override when created.
program.exitOverride();

const g = () => program.opts<Global>();
const out = (json: unknown, human: string) => process.stdout.write(`${g().json ? JSON.stringify(json) : human}\n`);

/** A failure the CLI reports with a code; exit 2 for bad arguments, 1 otherwise. */
class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

async function withStorage<T>(fn: (s: HubStorage) => Promise<T>): Promise<T> {
  const client = await openSqlClient({ databaseUrl: g().databaseUrl, dataDir: g().data });
  const storage = openHubStorage(client);
  try {
    await storage.migrate();
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

const storeArg = (v: string) => {
  if (!isValidStoreId(v)) throw new CliError('invalid_argument', `"${v}" is not a valid store id (1-${MAX_STORE_ID_LENGTH} chars of A-Z a-z 0-9 . _ : @ -)`, 2);
  return v;
};
const portArg = (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError(`port must be 0-65535, got ${v}`);
  return n;
};

program
  .command('start')
  .description('serve HTTP and the /sync WebSocket endpoint')
  .option('--port <port>', 'port', portArg, 8080)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--replica <id>', 'this process\'s replica id (distinct per hub process)')
  .option('--cors-origin <origin>', 'a browser origin allowed to call the storefront API (repeatable; * for any)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--cache-control <value>', 'Cache-Control of storefront reads', 'public, max-age=1, stale-while-revalidate=5')
  .option('--metrics-public', 'serve GET /metrics without an API key (a Prometheus on a private network; default: a read key is required)', false)
  .action(async (o: { port: number; host: string; replica?: string; corsOrigin: string[]; cacheControl: string; metricsPublic: boolean }) => {
    // Loaded here: the HTTP server, GraphQL, metrics and the rest are not needed by the admin commands.
    const { startHub } = await import('../hub.js');
    const hub = await startHub({
      port: o.port,
      host: o.host,
      replica: o.replica,
      databaseUrl: g().databaseUrl,
      dataDir: g().data,
      corsOrigins: o.corsOrigin,
      cacheControl: o.cacheControl,
      metricsPublic: o.metricsPublic,
      ...protectionAndTls(),
      ...alertOptions(program),
    });
    const shutdown = () => {
      hub.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });

const stores = program.command('stores').description('stores and their sync tokens');
stores
  .command('add <storeId>')
  .description('register a store and print its token (shown once; only a hash is kept)')
  .action(async (id: string) => {
    const storeId = storeArg(id) as StoreId;
    const token = newSecret('st');
    await withStorage(async (s) => {
      await s.access.addStore(storeId, hashSecret(token), Date.now());
      await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'store.add', detail: { storeId } });
    });
    out({ storeId, token }, `store ${storeId} added; its token (shown once):\n${token}`);
  });
stores
  .command('list')
  .action(async () => {
    const list = await withStorage((s) => s.access.listStores());
    out(list, list.map((x) => `${x.storeId}\t${x.revokedAt ? 'revoked' : 'active'}\t${new Date(x.createdAt).toISOString()}`).join('\n') || 'no stores');
  });
stores
  .command('revoke <storeId>')
  .action(async (id: string) => {
    const storeId = storeArg(id) as StoreId;
    const ok = await withStorage(async (s) => {
      const r = await s.access.revokeStore(storeId, Date.now());
      if (r) await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'store.revoke', detail: { storeId } });
      if (r) await s.notices.notify(ACCESS_CHANGED, storeId);
      return r;
    });
    if (!ok) throw new CliError('not_found', `no active store ${storeId}`);
    out({ storeId, revoked: true }, `store ${storeId} revoked`);
  });
stores
  .command('rotate <storeId>')
  .description('issue a new token for a store (shown once); the old token stops working at once and running hubs close its open sync links')
  .action(async (id: string) => {
    const storeId = storeArg(id) as StoreId;
    const token = newSecret('st');
    const ok = await withStorage(async (s) => {
      const r = await s.access.rotateStoreToken(storeId, hashSecret(token));
      if (r) await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'store.rotate', detail: { storeId } });
      // Hub processes recheck their links now instead of at the next heartbeat.
      if (r) await s.notices.notify(ACCESS_CHANGED, storeId);
      return r;
    });
    if (!ok) throw new CliError('not_found', `no active store ${storeId}`);
    out({ storeId, token }, `store ${storeId}: new token (shown once; the old one no longer works):\n${token}`);
  });

const keys = program.command('keys').description('API keys for the storefront and admin APIs');
keys
  .command('add')
  .requiredOption('--role <role>', 'read, reserve or admin', (v: string) => {
    if (!['read', 'reserve', 'admin'].includes(v)) throw new InvalidArgumentError('role must be read, reserve or admin');
    return v;
  })
  .action(async (o: { role: ApiRole }) => {
    const key = newSecret('sk');
    const id = `key_${randomBytes(6).toString('hex')}`;
    await withStorage(async (s) => {
      await s.access.addApiKey(id, hashSecret(key), o.role, Date.now());
      await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'key.add', detail: { id, role: o.role } });
    });
    out({ id, key, role: o.role }, `${o.role} key ${id} (shown once):\n${key}`);
  });
keys.command('list').action(async () => {
  const list = await withStorage((s) => s.access.listApiKeys());
  out(list, list.map((k) => `${k.id}\t${k.role}\t${k.revokedAt ? 'revoked' : 'active'}`).join('\n') || 'no keys');
});
keys.command('revoke <id>').action(async (id: string) => {
  const ok = await withStorage(async (s) => {
    const r = await s.access.revokeApiKey(id, Date.now());
    if (r) await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'key.revoke', detail: { id } });
    if (r) await s.notices.notify(ACCESS_CHANGED, id);
    return r;
  });
  if (!ok) throw new CliError('not_found', `no active key ${id}`);
  out({ id, revoked: true }, `key ${id} revoked`);
});

registerAllocationCommands(program, { withStorage, out, storeArg, fail: (code, message, exitCode) => new CliError(code, message, exitCode) });
registerOpsCommands(program, { withStorage, out, storeArg, fail: (code, message, exitCode) => new CliError(code, message, exitCode) });
registerDocumentCommands(program, { withStorage, out, storeArg, fail: (code, message, exitCode) => new CliError(code, message, exitCode) });

program
  .command('verify')
  .description('fold each replica\'s stored event log and compare with its stored entries (exit 1 on mismatch)')
  .option('--store <id>', 'only this store')
  .option('--strict', 'also exit 1 when a replica that is not connected has gaps in its stored event log (nothing is backfilling them)', false)
  .option('--hub <url>', 'with --strict: ask this running hub (GET /status) which replicas are connected; without it every replica counts as not connected')
  .option('--key <key>', 'read API key for --hub (or SCOVILLE_HUB_KEY)')
  .action(async (o: { store?: string; strict: boolean; hub?: string; key?: string }) => {
    const only = o.store === undefined ? undefined : (storeArg(o.store) as StoreId);
    const connected = o.hub === undefined ? new Set<string>() : await connectedReplicas(o.hub, o.key ?? process.env.SCOVILLE_HUB_KEY);
    const reports = await withStorage((s) => verifyStores(s, only));
    const bad = reports.filter((r) => !r.ok);
    const gap = (x: { missingSeqs: number; missingRanges: [number, number][] }) => `missing seqs ${formatRanges(x.missingRanges)}`;
    out(
      reports,
      reports
        .flatMap((r) =>
          r.replicas.map(
            (x) =>
              `${r.store}\t${x.replica}\t${x.events} events\t${
                x.missingSeqs > 0
                  ? `backfilling (${x.missingSeqs} events to come)\t${gap(x)}${connected.has(`${r.store}/${x.replica}`) ? '\tconnected' : ''}`
                  : x.matches
                    ? 'ok'
                    : 'MISMATCH'
              }`,
          ),
        )
        .join('\n') || 'no events',
    );
    const stalled = o.strict
      ? reports.flatMap((r) => r.replicas.filter((x) => x.missingSeqs > 0 && !connected.has(`${r.store}/${x.replica}`)).map((x) => `${r.store}/${x.replica}: ${gap(x)}`))
      : [];
    if (stalled.length > 0) {
      throw new CliError(
        'event_log_gaps',
        `gaps in the event log of ${stalled.length} replica(s) that are not connected${o.hub === undefined ? ' (no --hub given: every replica counts as not connected)' : ` to ${o.hub}`}; nothing is backfilling them until the agent reconnects:\n  ${stalled.join('\n  ')}`,
      );
    }
    if (bad.length > 0) process.exitCode = 1;
  });

/** `store/replica` of every replica connected to the hub at `url` (GET /status). */
async function connectedReplicas(url: string, key: string | undefined): Promise<Set<string>> {
  let res: Response;
  try {
    res = await fetch(new URL('/status', url), { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new CliError('hub_unreachable', `could not ask ${url} which replicas are connected: ${String((e as Error).message ?? e)}`);
  }
  if (!res.ok) throw new CliError('hub_refused', `GET ${url}/status answered ${res.status}${res.status === 401 ? ': pass a read key with --key' : ''}`);
  const body = (await res.json()) as { online: { store: string; replicas: string[] }[] };
  return new Set(body.online.flatMap((s) => s.replicas.map((r) => `${s.store}/${r}`)));
}

// ---------------------------------------------------------------- event export (docs/events.md)

// `start --export <url>`: the hub reads SCOVILLE_EXPORT_URL (startHub's default), so the flag sets it.
program.commands
  .find((c) => c.name() === 'start')!
  .option('--export <url>', 'publish every committed event to this broker, e.g. amqp://guest:guest@127.0.0.1:5672 (default: $SCOVILLE_EXPORT_URL)')
  .option('--export-exchange <name>', 'topic exchange of the export (default: $SCOVILLE_EXPORT_EXCHANGE or scoville.events)')
  .option('--export-lease-ms <ms>', 'publisher lease: another hub takes over this long after the publisher died (default 10000)')
  .option('--export-batch <n>', 'events per confirmed batch (default 1000)')
  .hook('preAction', (cmd) => {
    const o = cmd.opts<{ export?: string; exportExchange?: string; exportLeaseMs?: string; exportBatch?: string }>();
    if (o.export !== undefined) process.env.SCOVILLE_EXPORT_URL = o.export;
    if (o.exportExchange !== undefined) process.env.SCOVILLE_EXPORT_EXCHANGE = o.exportExchange;
    if (o.exportLeaseMs !== undefined) process.env.SCOVILLE_EXPORT_LEASE_MS = o.exportLeaseMs;
    if (o.exportBatch !== undefined) process.env.SCOVILLE_EXPORT_BATCH = o.exportBatch;
  });

const exportCmd = program.command('export').description('the event export to a message broker (docs/events.md)');
const exchangeOpt = () => process.env.SCOVILLE_EXPORT_EXCHANGE || DEFAULT_EXCHANGE;
exportCmd
  .command('status')
  .description('the export cursor, its publisher and how far behind it is')
  .option('--exchange <name>', 'the exported exchange (default: $SCOVILLE_EXPORT_EXCHANGE or scoville.events)')
  .action(async (o: { exchange?: string }) => {
    const sink = `amqp:${o.exchange ?? exchangeOpt()}`;
    const s = await withStorage((st) => st.exports.state(sink));
    const now = Date.now();
    const secondsBehind = s.oldestBehindAt === null ? 0 : Math.max(0, (now - s.oldestBehindAt) / 1000);
    const at = (c: typeof s.cursor) => `change ${c.changeId}${c.after ? ` after ${c.after.store}/${c.after.replica}:${c.after.seq}` : ''}`;
    out(
      { ...s, secondsBehind, leaseLive: s.until > now },
      [
        `sink       ${s.sink}`,
        `cursor     ${at(s.cursor)} (head ${s.head})`,
        `behind     ${s.eventsBehind} events, ${secondsBehind.toFixed(1)} s`,
        `publisher  ${s.holder === null ? 'none yet' : `${s.holder} (${s.until > now ? 'lease live' : 'lease lapsed'})`}`,
      ].join('\n'),
    );
  });
exportCmd
  .command('replay')
  .description('republish the committed events from a change position or a time (consumers drop duplicates by message id)')
  .requiredOption('--from <position|time>', 'a change id (from that commit on) or an ISO time (commits received at or after it)')
  .option('--to <position>', 'last change id to republish (default: the head when the replay starts)')
  .option('--url <url>', 'broker URL (default: $SCOVILLE_EXPORT_URL)')
  .option('--exchange <name>', 'topic exchange (default: $SCOVILLE_EXPORT_EXCHANGE or scoville.events)')
  .action(async (o: { from: string; to?: string; url?: string; exchange?: string }) => {
    const url = o.url ?? process.env.SCOVILLE_EXPORT_URL;
    if (!url) throw new CliError('invalid_argument', 'give --url or set SCOVILLE_EXPORT_URL', 2);
    const to = o.to === undefined ? undefined : Number(o.to);
    if (to !== undefined && !Number.isSafeInteger(to)) throw new CliError('invalid_argument', `--to must be a change id, got ${o.to}`, 2);
    const asTime = /^\d+$/.test(o.from) ? null : Date.parse(o.from);
    if (asTime !== null && Number.isNaN(asTime)) throw new CliError('invalid_argument', `--from must be a change id or an ISO time, got ${o.from}`, 2);
    const [{ openSink }, { replay }] = await Promise.all([import('../export/hub-export.js'), import('../export/exporter.js')]);
    const sink = openSink({ url, exchange: o.exchange ?? exchangeOpt() });
    try {
      const r = await withStorage(async (s) => {
        const from = asTime === null ? { changeId: Number(o.from) - 1, after: null } : await s.exports.cursorAt(asTime);
        const upTo = to ?? (await s.exports.head());
        return { fromChange: from.changeId + 1, toChange: upTo, events: await replay(s.exports, sink, from, upTo) };
      });
      out({ ...r, sink: sink.name }, `republished ${r.events} events (changes ${r.fromChange}..${r.toChange}) to ${sink.name}`);
    } finally {
      await sink.close();
    }
  });

// ---------------------------------------------------------------- protection and TLS (docs/hub.md)

const countArg = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`${what} must be a whole number (0: off), got ${v}`);
  return Number(v);
};
program.commands
  .find((c) => c.name() === 'start')!
  .option('--rate-limit-key <n>', 'requests/s per API key or store token, with a burst of 2 s worth (0: off); per hub process', countArg('--rate-limit-key'), DEFAULT_RATE_LIMIT_KEY)
  .option('--rate-limit-ip <n>', 'requests/s per client IP, with a burst of 2 s worth (0: off); per hub process', countArg('--rate-limit-ip'), DEFAULT_RATE_LIMIT_IP)
  .option('--body-limit <bytes>', 'largest request body', countArg('--body-limit'), DEFAULT_BODY_LIMIT)
  .option('--tls-cert <file>', 'PEM certificate (chain): serve HTTPS and WSS; needs --tls-key')
  .option('--tls-key <file>', 'PEM private key of --tls-cert');

/** startHub's rate limits, body limit and TLS from `start`'s options. */
function protectionAndTls() {
  const o = program.commands.find((c) => c.name() === 'start')!.opts<{ rateLimitKey: number; rateLimitIp: number; bodyLimit: number; tlsCert?: string; tlsKey?: string }>();
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new CliError('invalid_argument', '--tls-cert and --tls-key go together', 2);
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new CliError('invalid_argument', `cannot read ${what} ${f}: ${(e as Error).message}`, 2);
    }
  };
  return {
    protection: { rateLimitKey: o.rateLimitKey, rateLimitIp: o.rateLimitIp, bodyLimitBytes: o.bodyLimit },
    tls: o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: read(o.tlsCert, '--tls-cert'), key: read(o.tlsKey, '--tls-key') } : undefined,
  };
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { code?: string; message?: string; exitCode?: number };
  // Help and version exit 0; commander's own errors are usage errors (2).
  if (typeof err.code === 'string' && err.code.startsWith('commander.')) process.exit(err.exitCode === 0 ? 0 : 2);
  if (g().json) process.stderr.write(`${JSON.stringify({ error: { code: err.code ?? 'failed', message: err.message } })}\n`);
  else process.stderr.write(`error: ${err.message ?? String(e)}\n`);
  process.exit(e instanceof CliError ? e.exitCode : 1);
}
