/**
 * WebSocket close codes used on the sync link. 1000/1001 are the standard
 * ones; 4xxx are private-use codes chosen to echo the matching HTTP status.
 */
export const CloseCode = {
  /** Orderly close, nothing wrong (agent shutting down, hub draining a connection it hands over). */
  Normal: 1000,
  /** The endpoint is going away (process restart, deploy). Reconnect with backoff. */
  GoingAway: 1001,
  /** Bad messages: malformed, wrong shape, or a protocol step out of order (e.g. a batch before hello). */
  BadMessage: 4400,
  /** Missing or invalid store token. Do not retry without a new token. */
  Unauthorized: 4401,
  /** The token is valid but not for this store or replica (another store's replica). */
  Forbidden: 4403,
  /** Protocol majors differ; upgrade one side. */
  UnsupportedVersion: 4406,
  /** Heartbeat timeout: no message or pong from the peer in time. */
  DeadLink: 4408,
  /** A frame above the size limit, or a batch with too many entries. */
  TooLarge: 4413,
  /** The hub sheds load; reconnect later with backoff. */
  Overloaded: 4429,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCode = (typeof CloseCode)[CloseCodeName];

const NAMES = new Map<number, CloseCodeName>(
  (Object.keys(CloseCode) as CloseCodeName[]).map((name) => [CloseCode[name], name]),
);

/** `4401` → `'Unauthorized'`; undefined for codes not in the table. */
export function closeCodeName(code: number): CloseCodeName | undefined {
  return NAMES.get(code);
}
