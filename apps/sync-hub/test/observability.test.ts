/**
 * Metrics, logs and operator fixes, on real processes: a sync hub (CLI,
 * real PostgreSQL) and edge agents (CLI) linked to it.
 * - GET /metrics on the hub (read key, or --metrics-public) and the agent (loopback);
 * - every metric deploy/grafana/scoville.json queries is exposed;
 * - pino JSON lines with the level as a label, request ids, secrets redacted;
 * - `stores rotate`: the old token stops at once and its open link is closed;
 * - `--version` on both CLIs.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllAgents, removeTempDirs, runCli, runCliJson, spawnAgent, tempDir, type SpawnedAgent } from '../../edge-agent/test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import { addReadKey, addStore, cleanEnv, HUB_BIN, hubCli, killAllHubs, REPO_ROOT, spawnHub, type SpawnedHub } from './sync/helpers/hub.js';
import { parseLogLines } from './sync/helpers/logs.js';
import { waitFor } from './sync/helpers/wait.js';

let db: TestDatabase;
let hub: SpawnedHub;
let publicHub: SpawnedHub;
let key: string;
let token: string;
let agent: SpawnedAgent;

beforeAll(async () => {
  db = await createTestDatabase();
  [token, key] = await Promise.all([addStore(db.url, 'brooklyn'), addReadKey(db.url)]);
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-obs' });
  publicHub = await spawnHub({ databaseUrl: db.url, replica: 'hub-obs-public', extraArgs: ['--metrics-public'] });
  const dir = tempDir('scoville-obs-');
  await runCliJson(dir, ['init', '--store', 'brooklyn']);
  agent = await spawnAgent(dir, ['--hub', hub.syncUrl, '--token', token]);
}, 90_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

const scrape = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

/** The value of one sample (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Metric names declared (`# TYPE`) in an exposition. */
const declared = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

describe('GET /metrics', () => {
  it('on the hub needs a read key, unless the hub runs with --metrics-public', async () => {
    expect((await scrape(hub.url)).status).toBe(401);
    const ok = await scrape(hub.url, { authorization: `Bearer ${key}` });
    expect(ok.status).toBe(200);
    expect(ok.type).toContain('text/plain');
    expect(ok.text).toContain('scoville_process_cpu_seconds_total');
    expect((await scrape(publicHub.url)).status).toBe(200);
  });

  it('counts links, ingest, holds and HTTP latency by route template (never a SKU)', async () => {
    const auth = { authorization: `Bearer ${key}` };
    await waitFor('the agent linked', async () => sample((await scrape(hub.url, auth)).text, 'scoville_hub_connected_agents') === 1);
    const h = (await scrape(hub.url, auth)).text;
    expect(sample(h, 'scoville_hub_connected_stores')).toBe(1);
    expect(sample(h, 'scoville_hub_holds_total', 'outcome="created"')).toBe(0);

    const sku = 'OBS-SKU-1';
    expect((await post(`${agent.url}/restocks`, { idempotencyKey: 'obs-r1', lines: [{ sku, qty: 10 }], allowNew: true })).status).toBe(201);
    const hold = await post(`${agent.url}/holds`, { idempotencyKey: 'obs-h1', lines: [{ sku, qty: 2 }] });
    expect(hold.status).toBe(201);
    expect((await post(`${agent.url}/sales`, { idempotencyKey: 'obs-s1', lines: [{ sku, qty: 1 }] })).status).toBe(201);
    await waitFor('the events committed at the hub', async () => {
      const t = (await scrape(hub.url, auth)).text;
      return (sample(t, 'scoville_hub_events_ingested_total') ?? 0) >= 3 && (sample(t, 'scoville_hub_holds_total', 'outcome="created"') ?? 0) >= 1;
    });
    expect((await fetch(`${hub.url}/inventory/${sku}`, { headers: auth })).status).toBe(200);
    const after = (await scrape(hub.url, auth)).text;
    expect(sample(after, 'scoville_hub_events_acked_total')).toBeGreaterThanOrEqual(3);
    expect(sample(after, 'scoville_hub_sale_events_total')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'scoville_hub_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'scoville_hub_alerts_active', 'kind="oversell"')).toBe(0);
    expect(after).toMatch(/scoville_http_request_duration_seconds_count\{route="\/inventory\/:sku",method="GET",status="2xx"\} 1/);
    expect(after).not.toContain(sku);

    const a = await waitFor('the agent acked', async () => {
      const t = (await scrape(agent.url)).text;
      return sample(t, 'scoville_agent_unacked_events') === 0 ? t : undefined;
    });
    expect(sample(a, 'scoville_agent_events_recorded_total')).toBeGreaterThanOrEqual(3);
    expect(sample(a, 'scoville_agent_events_acked_total')).toBe(sample(a, 'scoville_agent_events_recorded_total'));
    expect(sample(a, 'scoville_agent_sync_lag_seconds')).toBe(0);
    expect(sample(a, 'scoville_agent_hub_connected')).toBe(1);
    expect(a).toMatch(/scoville_http_request_duration_seconds_count\{route="\/holds",method="POST",status="2xx"\} 1/);
    expect(a).not.toContain(sku);
  }, 60_000);

  it('exposes every metric the Grafana dashboard queries', async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana/scoville.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const queried = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bscoville_[a-z0-9_]+/g)].map((m) => m[0]))));
    expect(queried.size).toBeGreaterThan(15);
    const exposed = new Set([...declared((await scrape(hub.url, { authorization: `Bearer ${key}` })).text), ...declared((await scrape(agent.url)).text)]);
    const missing = [...queried].filter((m) => !exposed.has(m) && !exposed.has(m.replace(/_(bucket|sum|count)$/, '')));
    expect(missing).toEqual([]);
    const prometheus = readFileSync(join(REPO_ROOT, 'deploy/prometheus.yml'), 'utf8');
    for (const job of ['scoville-hub', 'scoville-agent']) expect(prometheus).toContain(`job_name: ${job}`);
  });
});

describe('logs', () => {
  it('are pino JSON lines with the level as a label and the request id of a failed request', async () => {
    const res = await fetch(`${hub.url}/stores`, { headers: { 'x-request-id': 'obs-req-1', authorization: 'Bearer sk_not_a_key' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('obs-req-1');
    const made = await fetch(`${agent.url}/health`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const lines = parseLogLines(hub.output());
    const listening = lines.find((l) => l.msg === 'hub listening');
    expect(listening).toMatchObject({ level: 'info', service: 'sync-hub', replica: 'hub-obs' });
    expect(typeof listening?.time).toBe('string');
  });

  it('never carry tokens, keys or authorization headers', async () => {
    const script = join(tempDir('scoville-obs-log-'), 'log.ts');
    const hubLog = join(REPO_ROOT, 'apps/sync-hub/src/log.ts');
    const agentLog = join(REPO_ROOT, 'apps/edge-agent/src/observability/log.ts');
    writeFileSync(
      script,
      [
        `import { jsonLogger, requestContext } from ${JSON.stringify(hubLog)};`,
        `import { agentLogger } from ${JSON.stringify(agentLog)};`,
        `const secrets = { token: 'st_SECRET1', key: 'sk_SECRET2', headers: { authorization: 'Bearer SECRET3' }, store: { token: 'st_SECRET4' } };`,
        `requestContext.run({ reqId: 'r-42' }, () => jsonLogger({ service: 'sync-hub' }).warn('hub line', secrets));`,
        `agentLogger().warn('agent line', { ...secrets, terminalToken: 'SECRET5' });`,
      ].join('\n'),
    );
    const out = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', () => resolve({ stdout, stderr }));
    });
    expect(`${out.stdout}${out.stderr}`).not.toMatch(/SECRET\d/);
    const hubLine = parseLogLines(out.stderr).find((l) => l.msg === 'hub line');
    expect(hubLine).toMatchObject({ level: 'warn', reqId: 'r-42', token: '[redacted]', key: '[redacted]', headers: { authorization: '[redacted]' }, store: { token: '[redacted]' } });
    const agentLine = parseLogLines(out.stdout).find((l) => l.msg === 'agent line');
    expect(agentLine).toMatchObject({ level: 'warn', service: 'edge-agent', token: '[redacted]', terminalToken: '[redacted]' });
  }, 30_000);
});

describe('operator fixes', () => {
  it('`stores rotate` issues a new token; the old one stops at once and its open link is closed', async () => {
    const dir = tempDir('scoville-obs-rot-');
    await runCliJson(dir, ['init', '--store', 'queens']);
    const old = await addStore(db.url, 'queens');
    // The hub's heartbeat recheck (15 s) is longer than the wait below: only the rotation's notice closes the link in time.
    const linked = await spawnAgent(dir, ['--hub', hub.syncUrl, '--token', old]);
    const logOf = (a: SpawnedAgent) => parseLogLines(a.output().stdout);
    await waitFor('queens linked', () => logOf(linked).some((l) => l.msg === 'connected to hub'), { timeoutMs: 20_000 });
    const rotated = await hubCli<{ storeId: string; token: string }>(db.url, ['stores', 'rotate', 'queens']);
    expect(rotated.storeId).toBe('queens');
    expect(rotated.token).toMatch(/^st_/);
    expect(rotated.token).not.toBe(old);
    const refused = await waitFor('the open link closed with 4401', () => logOf(linked).find((l) => l.level === 'warn' && l.code === 4401), { timeoutMs: 8_000 });
    expect(String(refused.msg)).toContain('sync-hub stores rotate queens');
    await linked.kill('SIGTERM');

    const again = await spawnAgent(dir, ['--hub', hub.syncUrl, '--token', rotated.token]);
    await waitFor('the new token links', () => logOf(again).some((l) => l.msg === 'connected to hub'), { timeoutMs: 20_000 });
    await again.kill('SIGTERM');
    const list = await hubCli<{ storeId: string; revokedAt: number | null }[]>(db.url, ['stores', 'list']);
    expect(list.find((s) => s.storeId === 'queens')?.revokedAt).toBeNull();
    await expect(hubCli(db.url, ['stores', 'rotate', 'nowhere'])).rejects.toThrow(/no active store nowhere/);
  }, 90_000);

  it('--version on both CLIs', async () => {
    const agentV = await runCli(['--version']);
    expect(agentV.code).toBe(0);
    expect(agentV.stdout).toMatch(/^edge-agent \d+\.\d+\.\d+/);
    const hubV = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [HUB_BIN, '--version'], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.once('close', (code) => resolve({ code, stdout }));
    });
    expect(hubV.code).toBe(0);
    expect(hubV.stdout).toMatch(/^sync-hub \d+\.\d+\.\d+/);
  }, 30_000);
});
