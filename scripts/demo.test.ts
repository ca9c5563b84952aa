/**
 * `npm start` keeps working: the demo starts a hub on PGlite, three stores
 * that sync to it, and the dashboard; sales made at a store's POS API reach
 * the hub's aggregate; the simulated web shop holds carts online and pays
 * for or releases them (the hub's hold counters move); the catalog came from
 * HQ's CSV import. Runs the real script as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'scoville-demo-'));
let child: ChildProcess | null = null;

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

it('starts the hub, three syncing stores and the dashboard', async () => {
  const port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
    cwd: ROOT,
    env: { ...process.env, SCOVILLE_DEMO_DIR: dir, PORT: String(port), DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', () => undefined);
  const deadline = Date.now() + 60_000;
  while (!out.includes('Scoville demo is running') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`demo exited with ${child.exitCode}: ${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const key = (JSON.parse(readFileSync(join(dir, 'demo-secrets.json'), 'utf8')) as { readKey: string }).readKey;
  // The dashboard's URL carries no key (the page asks for it once).
  expect(out).toContain(`dashboard   http://127.0.0.1:${port}/  (paste the read key when it asks: ${key})`);
  const brooklyn = /store brooklyn\s+POS API (http:\/\/\S+)/.exec(out)?.[1];
  expect(brooklyn).toBeDefined();

  const hub = `http://127.0.0.1:${port}`;
  const aggregate = async () => {
    const res = await fetch(`${hub}/inventory?sku=HSS-004&storeId=brooklyn`, { headers: { authorization: `Bearer ${key}` } });
    return res.ok ? ((await res.json()) as { onHand: number }).onHand : null;
  };
  const stock = async () => ((await (await fetch(`${brooklyn}/stock/HSS-004`)).json()) as { onHand: number }).onHand;
  // The hub converges to what the store has, while the simulated tills keep selling.
  let converged = false;
  for (let i = 0; i < 100 && !converged; i++) {
    const [a, b] = [await stock(), await aggregate()];
    converged = a === b && a !== null;
    if (!converged) await new Promise((r) => setTimeout(r, 200));
  }
  expect(converged).toBe(true);
  const page = await fetch(`${hub}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<title>Scoville');
  expect((await fetch(`${hub}/dashboard`, { redirect: 'manual' })).headers.get('location')).toBe('/');
  expect((await fetch(`${hub}/dashboard/state?key=${encodeURIComponent(key)}`)).status).toBe(200);
  expect((await fetch(`${hub}/dashboard/state`)).status).toBe(401);

  // The catalog came from HQ's CSV import, with names.
  const catalog = (await (await fetch(`${hub}/catalog`, { headers: { authorization: `Bearer ${key}` } })).json()) as { items: { sku: string; name: string }[] };
  expect(catalog.items.find((i) => i.sku === 'HSS-004')?.name).toBe('Carolina Reaper Extract 50ml');
  // Online holds through the hub's REST API: created, then paid for or released.
  const holds = async () => {
    const text = await (await fetch(`${hub}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
    const n = (outcome: string) => Number(new RegExp(`scoville_hub_holds_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return { created: n('created'), settled: n('committed') + n('released') };
  };
  let h = await holds();
  for (let i = 0; i < 200 && (h.created === 0 || h.settled === 0); i++) {
    await new Promise((r) => setTimeout(r, 200));
    h = await holds();
  }
  expect(h.created).toBeGreaterThan(0);
  expect(h.settled).toBeGreaterThan(0);
}, 120_000);

it('with its port taken picks the next free one and says so; --stores scales the demo', async () => {
  const demoDir = mkdtempSync(join(tmpdir(), 'scoville-demo-more-'));
  // Something already listens on the port the demo is told to use.
  const taken = createServer();
  const port = await new Promise<number>((r) => taken.listen(0, '127.0.0.1', () => r((taken.address() as { port: number }).port)));
  const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--stores', '5'], {
    cwd: ROOT,
    env: { ...process.env, SCOVILLE_DEMO_DIR: demoDir, PORT: String(port), DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  demo.stdout!.on('data', (d) => (out += d));
  demo.stderr!.on('data', (d) => (err += d));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('Scoville demo is running') && Date.now() < deadline) {
      if (demo.exitCode !== null) throw new Error(`demo exited with ${demo.exitCode}: ${out}${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(out).toContain(`port ${port} is taken`);
    const used = Number(/using (\d+) instead/.exec(out)?.[1]);
    expect(used).toBeGreaterThan(port);
    expect(out).toContain(`http://127.0.0.1:${used}`);
    expect(out.match(/POS API http:/g)?.length).toBe(5);
    expect(out).toContain('store store-005');
    const key = (JSON.parse(readFileSync(join(demoDir, 'demo-secrets.json'), 'utf8')) as { readKey: string }).readKey;
    const stores = (await (await fetch(`http://127.0.0.1:${used}/stores`, { headers: { authorization: `Bearer ${key}` } })).json()) as { stores: unknown[] };
    expect(stores.stores).toHaveLength(5);

    // A second demo on the same folder is refused with what to do (no stack trace).
    const second = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: ROOT,
      env: { ...process.env, SCOVILLE_DEMO_DIR: demoDir, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let secondErr = '';
    second.stderr!.on('data', (d) => (secondErr += d));
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(secondErr).toContain('a demo is already running');
    expect(secondErr).toContain('SCOVILLE_DEMO_DIR');
    expect(secondErr).not.toMatch(/\n\s+at /);
  } finally {
    demo.kill('SIGTERM');
    await new Promise((r) => (demo.exitCode !== null ? r(null) : demo.once('exit', r)));
    taken.close();
    rmSync(demoDir, { recursive: true, force: true });
  }
}, 120_000);
