/**
 * `npm start`: the whole product on one machine. A hub on embedded Postgres
 * (PGlite; or PostgreSQL when DATABASE_URL is set), three demo stores each
 * running a real edge agent with its own SQLite file, a simulated POS
 * selling at every store, and the live dashboard.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { sku, type StoreId } from '@scoville/crdt-inventory';
import { initAgent, startAgent, type RunningAgent } from '../apps/edge-agent/src/agent.js';
import { hashSecret, newSecret } from '../apps/sync-hub/src/auth/tokens.js';
import { startHub } from '../apps/sync-hub/src/hub.js';

const ROOT = resolve(process.env.SCOVILLE_DEMO_DIR ?? './.scoville/demo');
const PORT = Number(process.env.PORT ?? 8080);
const STORES = ['brooklyn', 'austin', 'portland'];
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
}

mkdirSync(ROOT, { recursive: true });
const secretsFile = join(ROOT, 'demo-secrets.json');
const hub = await startHub({ port: PORT, databaseUrl: process.env.DATABASE_URL ?? null, dataDir: join(ROOT, 'hub'), replica: 'hub-demo' });

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
if (!secrets.readKey || !(await hub.storage.access.apiKeyForHash(hashSecret(secrets.readKey)))) {
  secrets.readKey = newSecret('sk');
  await hub.storage.access.addApiKey(`demo-${randomUUID().slice(0, 8)}`, hashSecret(secrets.readKey), 'read', Date.now());
}
writeFileSync(secretsFile, JSON.stringify(secrets, null, 2));

const agents: RunningAgent[] = [];
for (const s of STORES) {
  const dir = join(ROOT, 'agents', s);
  if (!existsSync(join(dir, 'agent.db'))) initAgent(dir, s);
  const agent = await startAgent({ dataDir: dir, port: 0, hub: { url: `ws://127.0.0.1:${hub.port}/sync`, token: secrets.tokens[s]! } });
  agent.store.upsertCatalog(CATALOG.map((c) => ({ ...c, sku: sku(c.sku), updatedAt: Date.now() })));
  agent.inventory.refreshCatalog();
  agents.push(agent);
}

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

// A simulated POS at every store: a sale every second or so, restocks when low.
const pos = setInterval(() => {
  const agent = agents[Math.floor(Math.random() * agents.length)]!;
  const item = CATALOG[Math.floor(Math.random() * CATALOG.length)]!;
  const stock = agent.inventory.stock(sku(item.sku), Date.now());
  const body =
    stock.onHand <= 2
      ? { path: '/restocks', body: { idempotencyKey: randomUUID(), lines: [{ sku: item.sku, qty: 24 }], terminal: 'backoffice' } }
      : { path: '/sales', body: { idempotencyKey: randomUUID(), lines: [{ sku: item.sku, qty: 1 + Math.floor(Math.random() * 2) }], terminal: 'till-1' } };
  post(agent, body.path, body.body).catch(() => {});
}, 700);

const dashboard = `http://127.0.0.1:${hub.port}/dashboard?key=${encodeURIComponent(secrets.readKey)}`;
process.stdout.write(
  [
    '',
    'Scoville demo is running.',
    `  dashboard   ${dashboard}`,
    `  hub API     http://127.0.0.1:${hub.port}  (read key: ${secrets.readKey})`,
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
  for (const a of agents) await a.stop();
  await hub.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
