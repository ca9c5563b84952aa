/**
 * `npm start`: the whole product on one machine. A hub on embedded Postgres
 * (PGlite; or PostgreSQL when DATABASE_URL is set), three demo stores (`npm start -- --stores 20`: twenty) each
 * running a real edge agent with its own SQLite file, a simulated POS
 * selling at every store from a few tills, a simulated web shop holding carts
 * through the hub's REST API (reserve, then commit, release or let expire),
 * and the live dashboard. HQ sets the catalog with a CSV import and gives
 * each store an online allocation (30 % of its stock), through the admin API.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { sku, type StoreId } from '@scoville/crdt-inventory';
import { initAgent, startAgent, type RunningAgent } from '../apps/edge-agent/src/agent.js';
import { hashSecret, newSecret } from '../apps/sync-hub/src/auth/tokens.js';
import { startHub } from '../apps/sync-hub/src/hub.js';

const ROOT = resolve(process.env.SCOVILLE_DEMO_DIR ?? './.scoville/demo');
const PORT = Number(process.env.PORT ?? 8080);

/** `npm start -- --stores 20`: how many demo stores (default 3, at most 200). */
function storeCount(argv: readonly string[]): number {
  const i = argv.findIndex((a) => a === '--stores' || a.startsWith('--stores='));
  if (i < 0) return 3;
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 200) {
    process.stderr.write(`--stores must be a whole number from 1 to 200, got ${raw ?? 'nothing'}\n`);
    process.exit(2);
  }
  return n;
}
const NAMED = ['brooklyn', 'austin', 'portland'];
const STORES = Array.from({ length: storeCount(process.argv.slice(2)) }, (_, i) => NAMED[i] ?? `store-${String(i + 1).padStart(3, '0')}`);

/** True when nothing listens on `port` at 127.0.0.1. */
const portFree = (port: number) =>
  new Promise<boolean>((res) => {
    const s = createServer()
      .once('error', () => res(false))
      .listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });

/** PORT if free, else the next free one (up to 20 further), saying so; a clear message instead of EADDRINUSE. */
async function choosePort(wanted: number): Promise<number> {
  for (let p = wanted; p < wanted + 20 && p <= 65535; p++) {
    if (await portFree(p)) {
      if (p !== wanted) process.stdout.write(`port ${wanted} is taken (another hub or demo?); using ${p} instead. Choose one with PORT=<port> npm start.\n`);
      return p;
    }
  }
  process.stderr.write(`ports ${wanted}-${wanted + 19} are all taken: stop what uses them or run PORT=<free port> npm start\n`);
  process.exit(1);
}
const CATALOG = [
  { sku: 'HSS-001', name: 'Habanero Classic 150ml', priceCents: 899, lowStockThreshold: 5, safetyStock: 1 },
  { sku: 'HSS-002', name: 'Ghost Pepper Reserve 150ml', priceCents: 1299, lowStockThreshold: 5, safetyStock: 1 },
  { sku: 'HSS-003', name: 'Chipotle Smoke 250ml', priceCents: 999, lowStockThreshold: 5, safetyStock: 1 },
  { sku: 'HSS-004', name: 'Carolina Reaper Extract 50ml', priceCents: 1999, lowStockThreshold: 3, safetyStock: 0 },
  { sku: 'HSS-005', name: 'Green Jalapeño 250ml', priceCents: 799, lowStockThreshold: 5, safetyStock: 1 },
];

interface Secrets {
  tokens: Record<string, string>;
  readKey: string;
  /** HQ (catalog, allocation) and the simulated web shop (holds). */
  adminKey?: string;
  reserveKey?: string;
}

mkdirSync(ROOT, { recursive: true });
// One demo per folder: a second one would open the same embedded database.
const pidFile = join(ROOT, 'demo.pid');
const other = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
if (other > 0 && other !== process.pid && alive(other)) {
  process.stderr.write(`a demo is already running on ${ROOT} (pid ${other}): stop it (Ctrl-C there, or kill ${other}), or give this one its own folder with SCOVILLE_DEMO_DIR=<dir> npm start\n`);
  process.exit(1);
}
writeFileSync(pidFile, String(process.pid));
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
const secretsFile = join(ROOT, 'demo-secrets.json');
const hub = await startHub({ port: await choosePort(PORT), databaseUrl: process.env.DATABASE_URL ?? null, dataDir: join(ROOT, 'hub'), replica: 'hub-demo' });

// Secrets are shown once by the CLI; the demo keeps its own in its folder so a restart reuses them.
const secrets: Secrets = existsSync(secretsFile) ? JSON.parse(readFileSync(secretsFile, 'utf8')) : { tokens: {}, readKey: '' };
const known = new Set((await hub.storage.access.listStores()).map((s) => s.storeId));
for (const s of STORES) {
  if (!known.has(s as StoreId) || !secrets.tokens[s]) {
    secrets.tokens[s] = newSecret('st');
    if (known.has(s as StoreId)) await hub.storage.access.revokeStore(s as StoreId, Date.now());
    await hub.storage.access.addStore(s as StoreId, hashSecret(secrets.tokens[s]!), Date.now()).catch(async () => {
      throw new Error(`store ${s} exists in the hub database with another token; delete ${ROOT} to start the demo afresh`);
    });
  }
}
/** The stored key of `role`, or a new one. */
async function apiKey(have: string | undefined, role: 'read' | 'reserve' | 'admin'): Promise<string> {
  if (have && (await hub.storage.access.apiKeyForHash(hashSecret(have)))?.revokedAt === null) return have;
  const key = newSecret('sk');
  await hub.storage.access.addApiKey(`demo-${role}-${randomUUID().slice(0, 8)}`, hashSecret(key), role, Date.now());
  return key;
}
secrets.readKey = await apiKey(secrets.readKey, 'read');
secrets.adminKey = await apiKey(secrets.adminKey, 'admin');
secrets.reserveKey = await apiKey(secrets.reserveKey, 'reserve');
writeFileSync(secretsFile, JSON.stringify(secrets, null, 2));
const hubUrl = `http://127.0.0.1:${hub.port}`;

/** A call to the hub's REST API with `key`; the status and the JSON answer. */
async function hubCall(method: string, path: string, key: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${hubUrl}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType } : {}) }, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
/** Refuses to go on when HQ's setup is refused: the demo would show nothing of it. */
const must = async (what: string, r: Promise<{ status: number; body: unknown }>) => {
  const { status, body } = await r;
  if (status >= 300) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
};

// HQ: the catalog as a CSV import (an edit of the shared catalog document every agent syncs)
// and an online allocation per store (the web shop may promise 30 % of each store's stock).
const csv = ['sku,name,price_cents,low_stock_threshold,safety_stock', ...CATALOG.map((c) => `${c.sku},${c.name},${c.priceCents},${c.lowStockThreshold},${c.safetyStock}`)].join('\n');
await must('catalog import', hubCall('POST', '/catalog/import', secrets.adminKey, csv, 'text/csv'));
for (const s of STORES) await must(`allocation of ${s}`, hubCall('PUT', `/stores/${s}/allocation`, secrets.adminKey, JSON.stringify({ default: { mode: 'share', share: 0.3 } })));

const agents: RunningAgent[] = [];
for (const s of STORES) {
  const dir = join(ROOT, 'agents', s);
  if (!existsSync(join(dir, 'agent.db'))) initAgent(dir, s);
  const agent = await startAgent({ dataDir: dir, port: 0, hub: { url: `ws://127.0.0.1:${hub.port}/sync`, token: secrets.tokens[s]! } });
  agents.push(agent);
}
// The catalog reaches each agent over its Yjs link (a second or so); the tills sell what it lists.
for (let i = 0; i < 50 && !agents.every((a) => a.docs.synced()); i++) await new Promise((r) => setTimeout(r, 100));

async function post(agent: RunningAgent, path: string, body: unknown): Promise<number> {
  const res = await fetch(`${agent.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

// Opening stock for stores that have none yet.
for (const agent of agents) {
  if (agent.inventory.lastEventSeq === 0) {
    await post(agent, '/restocks', {
      idempotencyKey: `opening-${agent.inventory.identity.replica}`,
      lines: CATALOG.map((c) => ({ sku: c.sku, qty: 20 + Math.floor(Math.random() * 20) })),
      terminal: 'backoffice',
    });
  }
}

// A simulated POS at every store: a sale every 2 s or so per store from one of three tills, restocks when low.
const pos = setInterval(() => {
  const agent = agents[Math.floor(Math.random() * agents.length)]!;
  const item = CATALOG[Math.floor(Math.random() * CATALOG.length)]!;
  const stock = agent.inventory.stock(sku(item.sku), Date.now());
  const body =
    stock.onHand <= 2
      ? { path: '/restocks', body: { idempotencyKey: randomUUID(), lines: [{ sku: item.sku, qty: 24 }], terminal: 'backoffice' } }
      : { path: '/sales', body: { idempotencyKey: randomUUID(), lines: [{ sku: item.sku, qty: 1 + Math.floor(Math.random() * 2) }], terminal: `till-${1 + Math.floor(Math.random() * 3)}` } };
  post(agent, body.path, body.body).catch(() => {});
}, Math.max(20, Math.round(2_100 / agents.length)));

// A simulated web shop: a cart held through the hub every second or so (the hub picks the store),
// then paid (70 %), abandoned (20 %) or left to expire after its 30 s (10 %), 3-15 s later.
let openCarts = 0;
const carts = setInterval(() => {
  if (openCarts >= 25) return;
  const item = CATALOG[Math.floor(Math.random() * CATALOG.length)]!;
  const ask = JSON.stringify({ idempotencyKey: randomUUID(), lines: [{ sku: item.sku, qty: 1 + Math.floor(Math.random() * 2) }], ttlSeconds: 30 });
  hubCall('POST', '/reservations', secrets.reserveKey!, ask)
    .then(({ status, body }) => {
      // 409 insufficient_stock: no store's online allocation covers the cart right now.
      if (status !== 201) return;
      openCarts++;
      const fate = Math.random();
      const later = setTimeout(() => {
        openCarts--;
        if (fate < 0.7) hubCall('POST', `/reservations/${body.id}/commit`, secrets.reserveKey!).catch(() => undefined);
        else if (fate < 0.9) hubCall('DELETE', `/reservations/${body.id}`, secrets.reserveKey!).catch(() => undefined);
      }, 3_000 + Math.random() * 12_000);
      later.unref();
    })
    .catch(() => undefined);
}, 1_100);

// The page asks for the read key once and keeps it in the browser: it is not put in the URL.
const dashboard = `http://127.0.0.1:${hub.port}/`;
process.stdout.write(
  [
    '',
    'Scoville demo is running.',
    `  dashboard   ${dashboard}  (paste the read key when it asks: ${secrets.readKey})`,
    `  hub API     ${hubUrl}  (read key: ${secrets.readKey}; admin key: ${secrets.adminKey})`,
    `  web shop    holds carts at ${hubUrl}/reservations every second or so (reserve key: ${secrets.reserveKey})`,
    ...agents.map((a) => `  store ${a.inventory.identity.store.padEnd(9)} POS API ${a.url}  (edge-agent --data ${join(ROOT, 'agents', a.inventory.identity.store)} stock)`),
    `  database    ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${join(ROOT, 'hub')}`}`,
    `Ctrl-C stops everything; data stays in ${ROOT}.`,
    '',
  ].join('\n'),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(pos);
  clearInterval(carts);
  for (const a of agents) await a.stop();
  await hub.stop();
  rmSync(pidFile, { force: true });
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
