/**
 * What the agent's log says about its link to the hub: refusals and a hub it
 * cannot reach at warn level with what to fix, connects and disconnects at
 * info. The real edge-agent CLI in child processes against a real sync hub
 * (child process, real Postgres).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../sync-hub/test/helpers/databases.js';
import { addStore, freePort, killAllHubs, spawnHub, type SpawnedHub } from '../../sync-hub/test/sync/helpers/hub.js';
import { parseLogLines } from '../../sync-hub/test/sync/helpers/logs.js';
import { waitFor } from '../../sync-hub/test/sync/helpers/wait.js';
import { killAllAgents, removeTempDirs, runCliJson, spawnAgent, tempDir, type SpawnedAgent } from './helpers/cli.js';

let db: TestDatabase;
let hub: SpawnedHub;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  token = await addStore(db.url, 'brooklyn');
  hub = await spawnHub({ databaseUrl: db.url, replica: 'hub-agentlog' });
}, 60_000);

afterAll(async () => {
  await killAllAgents();
  await killAllHubs();
  await db?.drop();
  removeTempDirs();
}, 30_000);

type LogLine = ReturnType<typeof parseLogLines>[number];

function lines(agent: SpawnedAgent): LogLine[] {
  const { stdout, stderr } = agent.output();
  return parseLogLines(`${stdout}\n${stderr}`);
}

const waitLine = (agent: SpawnedAgent, what: string, match: (l: LogLine) => boolean, timeoutMs = 15_000) =>
  waitFor(what, () => lines(agent).find(match), { timeoutMs, describe: () => JSON.stringify(agent.output()) });

async function newAgentDir(store: string): Promise<string> {
  const dir = tempDir('scoville-agentlog-');
  await runCliJson(dir, ['init', '--store', store]);
  return dir;
}

describe('the agent log about its sync link', () => {
  it('warns with what to fix when the hub refuses the token (4401)', async () => {
    const agent = await spawnAgent(await newAgentDir('brooklyn'), ['--hub', `ws://127.0.0.1:${hub.port}/sync`, '--token', 'st_wrong']);
    const line = await waitLine(agent, 'a warning about the refused token', (l) => l.level === 'warn' && l.code === 4401);
    expect(line.msg).toContain('the hub refused the token for store brooklyn (4401 unauthorized)');
    expect(line.msg).toContain('sync-hub stores add');
    expect(lines(agent).some((l) => l.msg === 'connected to hub')).toBe(false);
    await agent.kill('SIGTERM');
  }, 40_000);

  it('says connected and disconnected at info, and warns when the hub stays unreachable', async () => {
    const agent = await spawnAgent(await newAgentDir('brooklyn'), ['--hub', `ws://127.0.0.1:${hub.port}/sync`, '--token', token]);
    const up = await waitLine(agent, 'connected to hub', (l) => l.msg === 'connected to hub');
    expect(up).toMatchObject({ level: 'info', store: 'brooklyn' });
    await hub.kill('SIGKILL');
    await waitLine(agent, 'disconnected from hub', (l) => l.msg === 'disconnected from hub' && l.level === 'info');
    const down = await waitLine(agent, 'a warning that the hub is unreachable', (l) => l.level === 'warn' && /cannot reach the hub/.test(String(l.msg)), 30_000);
    expect(down.msg).toContain(`ws://127.0.0.1:${hub.port}/sync`);
    expect(down.attempts).toBeGreaterThanOrEqual(3);
    await agent.kill('SIGTERM');
  }, 60_000);

  it('warns when nothing listens at the hub URL from the start', async () => {
    const port = await freePort();
    const agent = await spawnAgent(await newAgentDir('queens'), ['--hub', `ws://127.0.0.1:${port}/sync`, '--token', token]);
    const down = await waitLine(agent, 'a warning that the hub is unreachable', (l) => l.level === 'warn' && /cannot reach the hub/.test(String(l.msg)), 30_000);
    expect(String(down.msg)).toMatch(/ECONNREFUSED/);
    await agent.kill('SIGTERM');
  }, 40_000);
});
