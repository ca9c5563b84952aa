import { dataPaths, readRuntime } from '../data-dir.js';

/** A failure the CLI prints and exits with: a code, a message, an exit status. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ClientOptions {
  data: string;
  agent?: string;
  terminalToken?: string;
}

/** Talks to the running agent's POS API, found through the data folder. */
export class AgentClient {
  readonly base: string;
  constructor(private readonly opts: ClientOptions) {
    const url = opts.agent ?? readRuntime(opts.data)?.url;
    if (!url) {
      throw new CliError(
        'agent_not_running',
        `the agent is not running (no ${dataPaths(opts.data).runtime}); start it with \`edge-agent start --data ${opts.data}\` or pass --agent <url>`,
        3,
      );
    }
    this.base = url.replace(/\/$/, '');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const token = this.opts.terminalToken ?? process.env.SCOVILLE_TERMINAL_TOKEN;
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new CliError('agent_unreachable', `cannot reach the agent at ${this.base}: ${(e as Error).cause ?? (e as Error).message}`, 3);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CliError('bad_response', `the agent answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } }).error;
      throw new CliError(err?.code ?? `http_${res.status}`, err?.message ?? `HTTP ${res.status}`, 1, json);
    }
    return json as T;
  }
}
