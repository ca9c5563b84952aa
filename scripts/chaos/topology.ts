/**
 * What a campaign runs: a fresh PostgreSQL database, a TCP proxy between
 * the hubs and Postgres, hub processes (`sync-hub start`), and N agents
 * (`edge-agent init/start`) each behind its own faultable link proxy. All
 * on 127.0.0.1, all real CLIs in child processes.
 *
 * The spawning is the story tests' (apps/sync-hub/test/sync/helpers,
 * apps/edge-agent/test/helpers/cli.ts); agents are spawned here because
 * they need an environment of their own (SCOVILLE_CLOCK_OFFSET_MS), which
 * the test helper strips on purpose.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN as AGENT_BIN, readAgentJson } from '../../apps/edge-agent/test/helpers/cli.js';
import { createAgent, removeTempDirs, type StoreAgent } from '../../apps/sync-hub/test/sync/helpers/agents.js';
import { addStore, cleanEnv, freePort, hubCli, REPO_ROOT, spawnHub, track, type SpawnedHub } from '../../apps/sync-hub/test/sync/helpers/hub.js';
import { startPgProxy, type PgProxy } from '../../apps/sync-hub/test/sync/helpers/pg-proxy.js';
import { createTestDatabase, type TestDatabase } from '../../apps/sync-hub/test/helpers/databases.js';
import { LinkProxy } from './link-proxy.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Keeps the last `max` characters a process printed. */
class Tail {
  private text = '';
  constructor(private readonly max = 300_000) {}
  add(s: string): void {
    this.text += s;
    if (this.text.length > this.max) this.text = this.text.slice(-this.max / 2);
  }
  toString(): string {
    return this.text;
  }
}

// ---------------------------------------------------------------- hubs

export class HubNode {
  proc: SpawnedHub | null = null;
  stopped = false;
  /** Output of earlier incarnations (the current one is in proc.output()). */
  private readonly history = new Tail();
  restarts = 0;

  constructor(
    readonly name: string,
    readonly replica: string,
    private readonly databaseUrl: string,
  ) {}

  get up(): boolean {
    return this.proc !== null;
  }

  /** The port agents should be forwarded to: only a live, not SIGSTOPped hub. */
  get port(): number | null {
    return this.proc !== null && !this.stopped ? this.proc.port : null;
  }

  get url(): string {
    if (this.proc === null) throw new Error(`hub ${this.name} is not running`);
    return this.proc.url;
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Starts the hub; retries while it cannot (Postgres cut off, say) until `deadline`. */
  async start(deadline = Date.now() + 60_000): Promise<void> {
    if (this.proc !== null) return;
    for (;;) {
      try {
        this.proc = await spawnHub({ databaseUrl: this.databaseUrl, replica: this.replica, timeoutMs: 30_000 });
        this.stopped = false;
        return;
      } catch (e) {
        this.history.add(`\n[chaos] start failed: ${String(e)}\n`);
        if (Date.now() > deadline) throw e;
        await sleep(500);
      }
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    if (this.stopped) p.child.kill('SIGCONT');
    this.proc = null;
    this.stopped = false;
    await p.kill(signal);
    this.history.add(`${p.output()}\n[chaos] ${signal} (pid ${p.pid})\n`);
  }

  async restart(deadline?: number): Promise<void> {
    await this.kill('SIGKILL');
    this.restarts++;
    await this.start(deadline);
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.proc === null) return;
    this.proc.child.kill(sig);
    this.stopped = sig === 'SIGSTOP';
  }

  output(): string {
    return `${this.history.toString()}${this.proc?.output() ?? ''}`;
  }
}

// ---------------------------------------------------------------- agents

export class AgentNode {
  child: ChildProcess | null = null;
  stopped = false;
  restarts = 0;
  private readonly log = new Tail();
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly index: number,
    readonly agent: StoreAgent,
    readonly proxy: LinkProxy,
    /** The fixed POS port: restarts come back on it, so terminals keep their URL. */
    readonly port: number,
    public clockOffsetMs: number,
  ) {}

  get name(): string {
    return `agent-${this.index}`;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Answering POS requests (started and not SIGSTOPped). */
  get up(): boolean {
    return this.child !== null && !this.stopped;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child !== null) return;
    const args = [AGENT_BIN, '--data', this.agent.dir, 'start', '--port', String(this.port)];
    args.push('--hub', `ws://127.0.0.1:${this.proxy.port}/sync`, '--token', this.agent.token);
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: cleanEnv({ SCOVILLE_CLOCK_OFFSET_MS: String(this.clockOffsetMs) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    this.log.add(`[chaos] start pid ${child.pid} clock offset ${this.clockOffsetMs} ms\n`);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.log.add(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => this.log.add(d));
    let gone = false;
    this.exited = new Promise((res) =>
      child.once('exit', (code, signal) => {
        gone = true;
        this.log.add(`[chaos] pid ${child.pid} exited ${code ?? signal}\n`);
        res();
      }),
    );
    this.child = child;
    this.stopped = false;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gone) {
        this.child = null;
        throw new Error(`${this.name} exited before it was ready:\n${this.log.toString().slice(-4_000)}`);
      }
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`${this.name} was not ready after ${timeoutMs} ms:\n${this.log.toString().slice(-4_000)}`);
      }
      if (readAgentJson(this.agent.dir)?.pid === child.pid && (await healthy(this.url))) {
        this.agent.proc = null;
        this.agent.url = this.url;
        return;
      }
      await sleep(50);
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (c === null) return;
    if (this.stopped) c.kill('SIGCONT');
    this.child = null;
    this.stopped = false;
    c.kill(signal);
    await this.exited;
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.child === null) return;
    this.child.kill(sig);
    this.stopped = sig === 'SIGSTOP';
  }

  output(): string {
    return this.log.toString();
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) })).ok;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- the whole thing

export interface TopologyOptions {
  agents: number;
  /** Clock offset of each agent at its first start (ms). */
  clockOffsets: number[];
  log: (msg: string) => void;
}

export class Topology {
  hubs: HubNode[] = [];
  agents: AgentNode[] = [];
  /** store id → its agents (agents 0 and 1 share a store, to exercise replicas of one store). */
  stores = new Map<string, AgentNode[]>();
  readKey = '';
  reserveKey = '';
  /** Agent i prefers hub (i mod 2) while the second hub runs. */
  secondHubOn = false;

  private constructor(
    readonly db: TestDatabase,
    readonly pg: PgProxy,
  ) {}

  static async start(opts: TopologyOptions): Promise<Topology> {
    const db = await createTestDatabase();
    const pg = await startPgProxy();
    const t = new Topology(db, pg);
    try {
      const hubUrl = pg.urlFor(db.url);
      t.hubs = [new HubNode('hub-a', 'hub-a', hubUrl), new HubNode('hub-b', 'hub-b', hubUrl)];
      // Migrates the database before anything else touches it.
      await t.hubs[0]!.start();
      const storeCount = Math.max(1, opts.agents - 1);
      // CLI calls cost ~1 s each: run them side by side.
      const [readKey, reserveKey, ...tokens] = await Promise.all([
        hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'read']).then((r) => r.key),
        hubCli<{ key: string }>(db.url, ['keys', 'add', '--role', 'reserve']).then((r) => r.key),
        ...Array.from({ length: storeCount }, (_, s) => addStore(db.url, `chaos-${s}`)),
      ]);
      // 30 % of every store's stock may be promised online: agents hand it to the hubs, so the
      // hold workload sells the same units as the tills (and borrows between hub processes).
      await Promise.all(Array.from({ length: storeCount }, (_, s) => hubCli(db.url, ['allocation', 'set', `chaos-${s}`, '--share', '0.3'])));
      t.readKey = readKey!;
      t.reserveKey = reserveKey!;
      // Agents 0 and 1 are two replicas of store chaos-0; the others have a store each.
      const storeOf = (i: number) => (opts.agents === 1 ? 0 : Math.max(0, i - 1));
      const created = await Promise.all(Array.from({ length: opts.agents }, (_, i) => createAgent(`chaos-${storeOf(i)}`, tokens[storeOf(i)]!)));
      for (let i = 0; i < opts.agents; i++) {
        const sa = created[i]!;
        const proxy = new LinkProxy(`link-${i}`, () => t.hubPortFor(i));
        await proxy.listen();
        const node = new AgentNode(i, sa, proxy, await freePort(), opts.clockOffsets[i] ?? 0);
        t.agents.push(node);
        t.stores.set(sa.store, [...(t.stores.get(sa.store) ?? []), node]);
      }
      await Promise.all(t.agents.map((a) => a.start()));
      opts.log(`topology: ${t.agents.length} agents in ${t.stores.size} stores, database ${db.name}`);
      return t;
    } catch (e) {
      await t.close(false);
      throw e;
    }
  }

  /** Where agent i's link goes now: its preferred hub if up, else the other one, else nowhere. */
  hubPortFor(i: number): number | null {
    const [a, b] = this.hubs as [HubNode, HubNode];
    const preferB = this.secondHubOn && i % 2 === 1;
    const first = preferB ? b : a;
    const second = preferB ? a : b;
    return first.port ?? second.port;
  }

  /** Live (running, not stopped) hubs. */
  liveHubs(): HubNode[] {
    return this.hubs.filter((h) => h.port !== null);
  }

  /** The second hub process joins; odd agents move to it (their links are reset). */
  async startSecondHub(): Promise<void> {
    await this.hubs[1]!.start();
    this.secondHubOn = true;
    for (const a of this.agents) if (a.index % 2 === 1) a.proxy.reset();
  }

  /** The second hub leaves (SIGTERM, orderly); its agents go back to the first. */
  async stopSecondHub(): Promise<void> {
    this.secondHubOn = false;
    await this.hubs[1]!.kill('SIGTERM');
    for (const a of this.agents) if (a.index % 2 === 1) a.proxy.reset();
  }

  /** Every process with a pid, for the memory monitor. */
  processes(): { name: string; pid: number }[] {
    const out: { name: string; pid: number }[] = [];
    for (const h of this.hubs) if (h.pid !== null) out.push({ name: h.name, pid: h.pid });
    for (const a of this.agents) if (a.pid !== null) out.push({ name: a.name, pid: a.pid });
    return out;
  }

  /** Heals every fault: Postgres back, links plain, processes continued, everything that should run running. */
  async heal(): Promise<void> {
    this.pg.restore();
    for (const a of this.agents) {
      a.proxy.heal();
      a.signal('SIGCONT');
    }
    for (const h of this.hubs) h.signal('SIGCONT');
    await this.hubs[0]!.start();
    if (this.secondHubOn) await this.hubs[1]!.start();
    await Promise.all(this.agents.map((a) => a.start()));
  }

  /** Writes every process's output to `dir`. */
  writeLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const h of this.hubs) writeFileSync(join(dir, `${h.name}.log`), h.output());
    for (const a of this.agents) writeFileSync(join(dir, `${a.name}.log`), `${a.agent.store} ${a.agent.replica} ${a.agent.dir}\n${a.output()}`);
  }

  /** Stops everything; drops the database; removes the agents' folders unless `keepData`. */
  async close(keepData: boolean): Promise<void> {
    await Promise.all(this.agents.map((a) => a.kill('SIGKILL')));
    await Promise.all(this.hubs.map((h) => h.kill('SIGKILL')));
    await Promise.all(this.agents.map((a) => a.proxy.close()));
    await this.pg.close();
    await this.db.drop().catch(() => undefined);
    if (!keepData) removeTempDirs();
  }
}
