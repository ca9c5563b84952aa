/**
 * HTTP pieces shared by the benches that load a server over keep-alive
 * connections (agent-sales, flash-sale): the bare hono baseline, a server
 * as a child process announcing `READY <url>` on stdout, and one POST.
 */
import { spawn } from 'node:child_process';
import { request, type Agent } from 'node:http';

export interface Server {
  url: string;
  /** The serving process, when it is a child (for its CPU time or memory). */
  pid?: number;
  stop(): Promise<void>;
}

/** hono + @hono/node-server: `POST <path>` parses the JSON body and answers 201, no work. */
export async function serveBareHono(path: string): Promise<Server> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  app.post(path, async (c) => {
    const body = (await c.req.json()) as { idempotencyKey: string };
    return c.json({ ok: true, idempotencyKey: body.idempotencyKey }, 201);
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, stop: () => new Promise((r) => server.close(() => r())) };
}

/**
 * `node --import tsx <script> ...args` as a child that prints `READY <url>`
 * once it serves; its stderr is passed through prefixed with `[label]`.
 */
export function startServerChild(script: string, args: readonly string[], label: string): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.setEncoding('utf8').on('data', (d: string) => process.stderr.write(`[${label}] ${d}`));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: string) => {
      out += d;
      const m = /READY (\S+)\n/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({
          url: m[1]!,
          pid: child.pid!,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => reject(new Error(`${label} server exited with ${code} before it was ready: ${out}`)));
  });
}

export interface Reply {
  status: number;
  body: string;
}

/** One JSON POST on `agent` (keep-alive, usually); resolves with the status and the whole body. */
export function post(agent: Agent, url: string, path: string, payload: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface GetLoadOptions {
  /** `http://host:port` */
  url: string;
  /** Path and query, e.g. `/inventory/SKU-1`. */
  path: string;
  headers?: Record<string, string>;
  /** Keep-alive connections, one request outstanding on each (closed loop). */
  connections: number;
  /** Requests before the measured window are not counted. */
  warmupMs: number;
  durationMs: number;
}

export interface GetLoadResult {
  /** Answers completed inside the measured window. */
  requests: number;
  durationMs: number;
  perSecond: number;
  /** Per-request milliseconds (send to last byte) of the measured window. */
  latencies: number[];
  statuses: Record<string, number>;
  errors: number;
  /** Bytes of one answer (headers + body), the last one seen. */
  answerBytes: number;
}

/**
 * A closed-loop GET load generator on raw keep-alive sockets (no node:http
 * client: its parser and objects cost several times the server's work on
 * small answers). Each connection writes one fixed request, reads the
 * answer (Content-Length, chunked, or bodiless 304), and sends the next.
 * Meant to run in a child process of its own, so the server under test
 * never shares its event loop; wrk would be better, where installed.
 */
export async function closedLoopGet(o: GetLoadOptions): Promise<GetLoadResult> {
  const { connect } = await import('node:net');
  const { performance } = await import('node:perf_hooks');
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port);
  const head = [`GET ${o.path} HTTP/1.1`, `host: ${u.host}`, 'connection: keep-alive', ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  const reqBuf = Buffer.from(head, 'latin1');
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let answerBytes = 0;
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const measureTo = measureFrom + o.durationMs;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const sock = connect(port, host);
      sock.setNoDelay(true);
      let acc = '';
      let sentAt = 0;
      let done = false;
      const send = () => {
        if (performance.now() >= measureTo) {
          done = true;
          sock.end();
          resolve();
          return;
        }
        sentAt = performance.now();
        sock.write(reqBuf);
      };
      sock.on('connect', send);
      sock.on('data', (chunk: Buffer) => {
        acc += chunk.toString('latin1');
        for (;;) {
          const h = acc.indexOf('\r\n\r\n');
          if (h < 0) return;
          const status = acc.slice(9, 12);
          const headers = acc.slice(0, h).toLowerCase();
          let end: number;
          if (status === '304' || status === '204') end = h + 4;
          else {
            const cl = /\r\ncontent-length:\s*(\d+)/.exec(headers);
            if (cl) {
              end = h + 4 + Number(cl[1]);
              if (acc.length < end) return;
            } else if (/\r\ntransfer-encoding:\s*chunked/.test(headers)) {
              const z = acc.indexOf('\r\n0\r\n\r\n', h + 2);
              if (z < 0) return;
              end = z + 7;
            } else end = h + 4;
          }
          const t = performance.now();
          if (sentAt >= measureFrom && t <= measureTo) {
            latencies.push(t - sentAt);
            statuses[status] = (statuses[status] ?? 0) + 1;
          }
          answerBytes = end;
          acc = acc.slice(end);
          send();
        }
      });
      sock.on('error', () => undefined);
      sock.on('close', () => {
        if (done) return;
        errors++;
        done = true;
        // The server closed a connection: open another, the loop goes on.
        if (performance.now() < measureTo) void one().then(resolve);
        else resolve();
      });
    });
  await Promise.all(Array.from({ length: o.connections }, one));
  const requests = latencies.length;
  return { requests, durationMs: o.durationMs, perSecond: requests / (o.durationMs / 1000), latencies, statuses, errors, answerBytes };
}
