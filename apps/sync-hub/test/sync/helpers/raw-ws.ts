/**
 * A bare WebSocket client for hostile-peer tests: sends exactly the frames
 * it is told to (objects are JSON-encoded, strings go as they are) and
 * records what the hub answers and how it closes.
 */
import WebSocket from 'ws';

export interface RawOutcome {
  /** The close code the hub chose; LEFT_OPEN when it kept the link open past the timeout. */
  code: number;
  reason: string;
  /** Every frame the hub sent, parsed. */
  received: { type: string; code?: string; [k: string]: unknown }[];
}

/** Bytes sent as a TEXT frame as they are (e.g. invalid UTF-8), which a well-behaved client never does. */
export class TextBytes {
  constructor(readonly bytes: Buffer) {}
}

/** `code` of a link the hub did not close (the client gave up on it). */
export const LEFT_OPEN = -1;

/**
 * Connects to `syncUrl` (with `Authorization: Bearer <token>` when given),
 * sends `frames` once open (objects as JSON text, Buffers as binary frames),
 * and resolves when the hub closes the link, or with LEFT_OPEN once
 * `timeoutMs` passed without a close.
 */
export function rawSession(
  syncUrl: string,
  token: string | null,
  frames: readonly (string | Buffer | TextBytes | object)[],
  timeoutMs = 5_000,
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(syncUrl, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
    const received: RawOutcome['received'] = [];
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      ws.terminate();
      resolve({ code: LEFT_OPEN, reason: `still open after ${timeoutMs} ms`, received });
    }, timeoutMs);
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      try {
        received.push(JSON.parse(String(data)));
      } catch {
        received.push({ type: '(not json)' });
      }
    });
    ws.once('open', () => {
      for (const f of frames) {
        if (f instanceof TextBytes) ws.send(f.bytes, { binary: false });
        else ws.send(typeof f === 'string' || Buffer.isBuffer(f) ? f : JSON.stringify(f));
      }
    });
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      if (!settled) resolve({ code, reason: reason.toString(), received });
    });
  });
}
