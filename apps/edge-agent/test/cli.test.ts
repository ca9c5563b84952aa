/**
 * The `edge-agent` CLI as staff use it: child processes against a started
 * agent (and a stopped one), exit codes, human and --json output.
 *
 * Exit codes: 0 ok, 1 refused or failed, 2 usage (bad argument), 3 no agent.
 * One agent serves the whole file; the tests run in order and build on each
 * other's stock.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentJsonExists,
  killAllAgents,
  removeTempDirs,
  runCli,
  runCliJson,
  spawnAgent,
  tempDir,
  type SpawnedAgent,
} from './helpers/cli.js';

interface Stock {
  sku: string;
  onHand: number;
  held: number;
  available: number;
}

let dir: string;
let agent: SpawnedAgent;
const cli = (...args: string[]) => runCli(['--data', dir, ...args]);
const json = <T>(...args: string[]) => runCliJson<T>(dir, args).then((r) => r.json);
const stockOf = async (sku: string) => json<Stock>('stock', sku);
/** The error a --json command printed on stderr. */
const errorOf = (stderr: string) => (JSON.parse(stderr.trim().split('\n').pop()!) as { error: { code: string; message: string } }).error;

beforeAll(async () => {
  dir = tempDir('scoville-cli-');
  const init = await cli('init', '--store', 's1');
  expect(init.code, init.stderr).toBe(0);
  expect(init.stdout).toContain('initialised store s1');
  agent = await spawnAgent(dir);
});

afterAll(async () => {
  await killAllAgents();
  removeTempDirs();
});

describe('init and start', () => {
  it('refuses a second init, and a second agent, on the same folder: the replica id is never reused', async () => {
    const [human, asJson, second] = await Promise.all([
      cli('init', '--store', 's1'),
      cli('--json', 'init', '--store', 's2'),
      runCli(['--data', dir, '--json', 'start', '--port', '0'], { timeoutMs: 15_000 }),
    ]);
    expect(human.code).not.toBe(0);
    expect(human.stderr).toMatch(/already holds the agent of store s1/);
    expect(asJson.code).not.toBe(0);
    expect(errorOf(asJson.stderr).code).toBe('already_initialized');
    expect(second.code).toBe(1);
    expect(errorOf(second.stderr)).toMatchObject({ code: 'agent_running', message: expect.stringContaining(`pid ${agent.pid}`) });
  });
});

describe('usage errors and a missing agent', () => {
  it('exits 3 with "not running" when no agent serves the folder, and 3 when the given URL does not answer', async () => {
    const idle = tempDir('scoville-cli-idle-');
    const [human, asJson, unreachable] = await Promise.all([
      runCli(['--data', idle, 'sell', 'HSS-001', '1']),
      runCli(['--data', idle, '--json', 'status']),
      runCli(['--data', idle, '--agent', 'http://127.0.0.1:9', 'stock']),
    ]);
    for (const r of [human, asJson]) {
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/not running/);
    }
    expect(errorOf(asJson.stderr).code).toBe('agent_not_running');
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach the agent/);
  });

  it('exits 2 on a bad quantity, delta, reason, SKU or a missing option, and changes nothing', async () => {
    const [abc, zero, delta, reason, sku, noReason] = await Promise.all([
      cli('sell', 'X', 'abc'),
      cli('sell', 'X', '0'),
      cli('adjust', 'X', '0', '--reason', 'damaged'),
      cli('adjust', 'X', '-1', '--reason', 'lost-in-space'),
      cli('sell', 'no spaces', '1'),
      cli('adjust', 'X', '-1'),
    ]);
    expect(abc.code).toBe(2);
    expect(abc.stderr).toMatch(/quantity must be a whole number, got "abc"/);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/quantity must be between 1/);
    expect(delta.code).toBe(2);
    expect(delta.stderr).toMatch(/delta must not be 0/);
    expect(reason.code).toBe(2);
    expect(reason.stderr).toMatch(/reason must be one of damaged/);
    expect(sku.code).toBe(2);
    expect(sku.stderr).toMatch(/not a valid SKU/);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/required option '--reason <reason>' not specified/);
  });

  it('exits 1 with code unknown_sku for a sale of a SKU the store has never seen', async () => {
    const r = await cli('--json', 'sell', 'NOPE-1', '1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(errorOf(r.stderr)).toMatchObject({ code: 'unknown_sku', message: 'unknown SKU: NOPE-1' });
    expect((await json<{ events: number }>('status')).events).toBe(0); // neither the refusals nor the usage errors wrote anything
  });
});

describe('stock operations', () => {
  it('restocks, sells, and refuses to oversell with the shortfall', async () => {
    expect((await cli('restock', 'HSS-001', '10')).code).toBe(0);
    const sale = await cli('sell', 'HSS-001', '3');
    expect(sale.code, sale.stderr).toBe(0);
    expect(sale.stdout).toMatch(/on hand/);
    expect(sale.stdout).toMatch(/HSS-001 .* 7 /);
    const over = await cli('sell', 'HSS-001', '8');
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/not enough stock for HSS-001\n\s+HSS-001: requested 8, available 7/);
  });

  it('count sets the absolute shelf count; adjust --reason damaged removes units', async () => {
    const counted = await json<{ lines: Stock[] }>('count', 'HSS-001', '20');
    expect(counted.lines).toEqual([expect.objectContaining({ sku: 'HSS-001', onHand: 20 })]);
    const adjusted = await json<{ lines: Stock[] }>('adjust', 'HSS-001', '-2', '--reason', 'damaged');
    expect(adjusted.lines[0]).toMatchObject({ onHand: 18, available: 18 });
  });

  it('hold, hold-commit and hold-release move units between held, sold and available', async () => {
    const [hold, second] = await Promise.all([
      json<{ holdId: string; expiresAt: number; lines: Stock[] }>('hold', 'HSS-001', '5', '--ttl', '600'),
      json<{ holdId: string; expiresAt: number; lines: Stock[] }>('hold', 'HSS-001', '4'),
    ]);
    expect(hold.holdId).toMatch(/^h/);
    expect(hold.expiresAt).toBeGreaterThan(Date.now() + 590_000);
    expect(second.expiresAt - Date.now()).toBeGreaterThan(14 * 60_000); // the default: 15 minutes
    expect(Math.max(hold.lines[0]!.held, second.lines[0]!.held)).toBe(9); // whichever came second saw both

    const [committed, released] = await Promise.all([cli('hold-commit', hold.holdId), cli('hold-release', second.holdId)]);
    expect(committed.code, committed.stderr).toBe(0);
    expect(committed.stdout).toContain(`hold ${hold.holdId} committed`);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toContain(`hold ${second.holdId} released`);

    const [stock, again, closed] = await Promise.all([
      stockOf('HSS-001'),
      cli('--json', 'hold-commit', hold.holdId), // idempotent by hold id: the first answer, replayed
      cli('--json', 'hold-release', hold.holdId),
    ]);
    expect(stock).toMatchObject({ onHand: 13, held: 0, available: 13 });
    expect(again.code, again.stderr).toBe(0);
    expect(closed.code).toBe(1);
    expect(errorOf(closed.stderr).code).toBe('hold_closed');
  });

  it('stock --json and status --json describe the store', async () => {
    const restock = await fetch(`${agent.url}/restocks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: 'http-restock', lines: [{ sku: 'HSS-002', qty: 4 }] }),
    });
    expect(restock.status).toBe(201);
    const [stock, status, human] = await Promise.all([
      json<{ store: string; items: Stock[] }>('stock'),
      json<{ store: string; replica: string; events: number; skus: number; sync: { online: boolean } }>('status'),
      cli('status'),
    ]);
    expect(stock.store).toBe('s1');
    expect(stock.items.map((i) => [i.sku, i.onHand])).toEqual([
      ['HSS-001', 13],
      ['HSS-002', 4],
    ]);
    // restock, sale, count, adjust, hold, hold, commit, release, restock
    expect(status).toMatchObject({ store: 's1', events: 9, skus: 2, sync: { online: false } });
    expect(status.replica).toMatch(/^s1\./);
    expect(human.stdout).toMatch(/^store\s+s1$/m);
    expect(human.stdout).toMatch(/^events\s+9$/m);
  });
});

describe('export', () => {
  it('writes the event log and the stock as CSV and JSON; refuses an unknown format; verify passes with the agent running', async () => {
    const [eventsCsv, eventsJson, stockCsv, stockJson, xml, verify] = await Promise.all([
      cli('export', '--format', 'csv', '--what', 'events'),
      cli('export', '--format', 'json', '--what', 'events'),
      cli('export', '--format', 'csv', '--what', 'stock'),
      cli('export', '--format', 'json', '--what', 'stock'),
      cli('--json', 'export', '--format', 'xml'),
      cli('--json', 'verify'),
    ]);
    for (const r of [eventsCsv, eventsJson, stockCsv, stockJson, verify]) expect(r.code, r.stderr).toBe(0);
    expect(xml.code).toBe(1);
    expect(errorOf(xml.stderr).code).toBe('invalid_format');
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, events: 9, problems: [] });

    const events = JSON.parse(eventsJson.stdout) as { seq: number; type: string; sku: string; qty: number; reason?: string; count?: number }[];
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const typed = (from: number, to: number) => events.slice(from, to).map((e) => `${e.type} ${e.sku} ${e.qty}`);
    expect(typed(0, 4)).toEqual(['restock HSS-001 10', 'sale HSS-001 3', 'adjustment HSS-001 13', 'adjustment HSS-001 -2']);
    // The two holds, then their commit and release, were sent concurrently: either order.
    expect(typed(4, 6).sort()).toEqual(['hold HSS-001 4', 'hold HSS-001 5']);
    expect(typed(6, 8).sort()).toEqual(['hold_commit HSS-001 5', 'hold_release HSS-001 4']);
    expect(typed(8, 9)).toEqual(['restock HSS-002 4']);
    expect(events[2]).toMatchObject({ reason: 'cycle_count', count: 20 });
    expect(events[3]).toMatchObject({ reason: 'damaged' });

    const lines = eventsCsv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('seq,id,type,sku,qty,reason,terminal,at,forced,count,reservationId,expiresAt,to,idempotencyKey');
    expect(lines).toHaveLength(1 + events.length);
    expect(lines[4]).toMatch(/^4,s1\.[0-9a-f]+:4,adjustment,HSS-001,-2,damaged,cli,\d+,/);

    const stock = JSON.parse(stockJson.stdout) as Stock[];
    expect(stock.map((s) => [s.sku, s.onHand, s.held, s.available])).toEqual([
      ['HSS-001', 13, 0, 13],
      ['HSS-002', 4, 0, 4],
    ]);
    const stockLines = stockCsv.stdout.trimEnd().split('\n');
    expect(stockLines[0]).toBe('sku,name,onHand,held,safetyStock,available,availableRaw,rights,lowStock,lastChange');
    expect(stockLines.slice(1).map((l) => l.split(',').slice(0, 4).join(','))).toEqual(['HSS-001,,13,0', 'HSS-002,,4,0']);
  });

});

describe('catalog import', () => {
  const ROWS = 5_000;
  const sku = (i: number) => `CAT-${String(i).padStart(5, '0')}`;
  /** Every 100th name needs CSV quoting: a comma and doubled quotes. */
  const name = (i: number) => (i % 100 === 0 ? `Habanero ${i}, "extra" hot` : `Sauce ${i}`);
  const csv = (rows: string[]) => `sku,name,price_cents,low_stock_threshold,safety_stock\n${rows.join('\n')}\n`;
  const row = (i: number, price: string = String(500 + i)) =>
    `${sku(i)},${name(i).includes(',') ? `"${name(i).replace(/"/g, '""')}"` : name(i)},${price},${i % 7},${i % 3}`;

  it(`imports a ${ROWS.toLocaleString('en')}-row CSV through the running agent; a file with one bad row imports nothing`, async () => {
    const good = join(dir, 'catalog.csv');
    writeFileSync(good, csv(Array.from({ length: ROWS }, (_, i) => row(i + 1))));
    const bad = join(dir, 'bad.csv');
    const rows = Array.from({ length: ROWS }, (_, i) => row(ROWS + i + 1));
    rows[2_999] = row(ROWS + 3_000, '12.50'); // line 3001
    writeFileSync(bad, csv(rows));

    const [ok, refused] = await Promise.all([cli('--json', 'catalog', 'import', good), cli('--json', 'catalog', 'import', bad)]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ imported: ROWS, via: 'api' });
    expect(refused.code).not.toBe(0);
    expect(errorOf(refused.stderr)).toMatchObject({ code: 'invalid_csv' });
    expect(errorOf(refused.stderr).message).toMatch(/bad\.csv:3001: price_cents must be a whole number/);

    const list = await json<{ items: { sku: string; name: string; priceCents: number | null; lowStockThreshold: number; safetyStock: number }[] }>(
      'catalog',
      'list',
    );
    expect(list.items).toHaveLength(ROWS); // none of bad.csv
    expect(list.items[0]).toEqual({ sku: sku(1), name: 'Sauce 1', priceCents: 501, lowStockThreshold: 1, safetyStock: 1, updatedAt: expect.any(Number) });
    expect(list.items.find((i) => i.sku === sku(300))).toMatchObject({ name: 'Habanero 300, "extra" hot', priceCents: 800 });
    expect(list.items.at(-1)).toMatchObject({ sku: sku(ROWS) });
  });
});

describe('with the agent stopped', () => {
  it('verify and export work with the agent stopped', async () => {
    const exit = await agent.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(agentJsonExists(dir)).toBe(false);

    const [verify, human, exported, stock, status] = await Promise.all([
      cli('--json', 'verify'),
      cli('verify'),
      cli('export', '--format', 'json', '--what', 'events'),
      cli('export', '--format', 'csv', '--what', 'stock'),
      cli('status'),
    ]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, events: 9 });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ok: 9 events fold to the stored state/);
    expect(exported.code, exported.stderr).toBe(0);
    expect((JSON.parse(exported.stdout) as unknown[]).length).toBe(9);
    expect(stock.code).toBe(0);
    // The stock export carries the imported catalog too (with no stock yet).
    expect(stock.stdout).toMatch(/^HSS-001,,13,0,/m);
    expect(stock.stdout).toMatch(/^CAT-00300,"Habanero 300, ""extra"" hot",0,0,/m);
    expect(status.code).toBe(3);
  });
});
