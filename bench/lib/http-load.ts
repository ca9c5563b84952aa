/**
 * HTTP pieces shared by the benches that load a server over keep-alive
 * connections (agent-sales, flash-sale): the bare hono baseline, a server
 * as a child process announcing `READY <url>` on stdout, and one POST.
 */
import { spawn } from 'node:child_process';
import { request, type Agent } from 'node:http';

export interface Server {
  url: string;
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
