/**
 * `npm start` keeps working: the demo starts a hub on PGlite, three stores
 * that sync to it, and the dashboard; sales made at a store's POS API reach
 * the hub's aggregate. Runs the real script as a child process.
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
  expect(out).toContain('/dashboard?key=');
  const key = (JSON.parse(readFileSync(join(dir, 'demo-secrets.json'), 'utf8')) as { readKey: string }).readKey;
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
  expect((await fetch(`${hub}/dashboard`)).status).toBe(200);
  expect((await fetch(`${hub}/dashboard/state?key=${encodeURIComponent(key)}`)).status).toBe(200);
  expect((await fetch(`${hub}/dashboard/state`)).status).toBe(401);
}, 90_000);
