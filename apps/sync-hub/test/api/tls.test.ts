/**
 * TLS: `sync-hub start --tls-cert --tls-key` (the real CLI) serves HTTPS and
 * WSS with a self-signed certificate made here by openssl; a read over
 * HTTPS works (trusting that certificate), plain HTTP does not, and an edge
 * agent started with `--hub wss://… --hub-ca <cert>` syncs a sale to it and
 * gets an HQ catalog edit over its Yjs link (wss://…/yjs/catalog, same CA).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnAgent, type SpawnedAgent } from '../../../edge-agent/test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { addStore, HUB_APP_ROOT, hubCli } from '../sync/helpers/hub.js';
import { createAgent, mustPost, removeTempDirs } from '../sync/helpers/agents.js';
import { waitFor } from '../sync/helpers/wait.js';

let db: TestDatabase;
let dir: string;
let ca: Buffer;
let hub: ChildProcess | null = null;
let hubUrl = '';
let agent: SpawnedAgent | null = null;

function httpsGet(url: string, key: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scoville-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  ca = readFileSync(join(dir, 'cert.pem'));
  db = await createTestDatabase();
  const child = spawn(
    process.execPath,
    [join(HUB_APP_ROOT, 'bin', 'sync-hub.js'), '--database-url', db.url, 'start', '--host', '127.0.0.1', '--port', '0', '--replica', 'hub-tls', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  hub = child;
  let out = '';
  hubUrl = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hub did not start: ${out}`)), 60_000);
    const onData = (d: string) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.includes('hub listening')) continue;
        clearTimeout(t);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    // The hub logs JSON lines (on stderr).
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`hub exited ${code}: ${out}`)));
  });
}, 90_000);

afterAll(async () => {
  agent?.child.kill('SIGKILL');
  hub?.kill('SIGKILL');
  removeTempDirs();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('TLS', () => {
  it('serves HTTPS: a read with a trusted self-signed certificate; plain HTTP on that port gets nothing', async () => {
    expect(hubUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { key } = await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']);
    const health = await httpsGet(`${hubUrl}/health`, key);
    expect(health.status).toBe(200);
    const stores = await httpsGet(`${hubUrl}/stores`, key);
    expect(stores).toMatchObject({ status: 200, body: { stores: [] } });
    // Without trusting the certificate a client refuses it.
    await expect(fetch(`${hubUrl}/health`)).rejects.toThrow();
    await expect(fetch(hubUrl.replace('https:', 'http:') + '/health', { signal: AbortSignal.timeout(3_000) })).rejects.toThrow();
  });

  it('an agent with --hub wss://… --hub-ca syncs a sale over WSS', async () => {
    const token = await addStore(db.url, 'tls1');
    const a = await createAgent('tls1', token);
    const syncUrl = `${hubUrl.replace('https:', 'wss:')}/sync`;
    agent = await spawnAgent(a.dir, ['--hub', syncUrl, '--token', token, '--hub-ca', join(dir, 'cert.pem')]);
    a.url = agent.url;
    await mustPost(a, '/restocks', [{ sku: 'T-1', qty: 5 }]);
    await mustPost(a, '/sales', [{ sku: 'T-1', qty: 2 }]);
    const { key } = await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']);
    const row = await waitFor('the sale at the hub over wss', async () => {
      const r = await httpsGet(`${hubUrl}/inventory?storeId=tls1&sku=T-1`, key);
      return r.status === 200 && r.body.onHand === 3 ? r.body : undefined;
    }, { timeoutMs: 30_000 });
    expect(row).toMatchObject({ storeId: 'tls1', sku: 'T-1', onHand: 3, online: true });

    // The catalog document reaches the agent over wss://…/yjs/catalog with the same --hub-ca.
    const admin = (await hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'admin'])).key;
    expect((await httpsGet(`${hubUrl}/catalog/T-1`, admin, 'PUT', { name: 'Tested over TLS' })).status).toBe(200);
    const item = await waitFor('the catalog item at the agent over wss', async () => {
      const r = (await (await fetch(`${a.url}/catalog`)).json()) as { items: { sku: string; name: string }[] };
      return r.items.find((i) => i.sku === 'T-1' && i.name === 'Tested over TLS');
    }, { timeoutMs: 30_000 });
    expect(item).toBeDefined();
    // and the agent is present there (awareness), under the store of its token.
    const presence = await httpsGet(`${hubUrl}/presence`, key);
    expect(presence.body.stores).toEqual([expect.objectContaining({ storeId: 'tls1', agents: [expect.objectContaining({ docs: ['catalog', 'settings:tls1'] })] })]);
  }, 90_000);
});
