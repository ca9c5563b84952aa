/**
 * Protocol version, `major.minor`. Peers speak together when their majors
 * match; they then use the lower minor (a minor only ever adds optional
 * things, so the lower one is understood by both).
 */
export const PROTOCOL_VERSION = '1.1';

/** The minor of a negotiated version (`'1.1'` → 1); 0 when unparsable. */
export function minorOf(version: string): number {
  return parseVersion(version)?.minor ?? 0;
}

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export type VersionNegotiation =
  | { ok: true; version: string }
  | { ok: false; error: { code: 'unsupported_version'; message: string } };

const VERSION_PATTERN = /^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$/;

/** `'1.2'` → `{ major: 1, minor: 2 }`; anything else → null. */
export function parseVersion(version: string): ProtocolVersion | null {
  const m = typeof version === 'string' ? VERSION_PATTERN.exec(version) : null;
  if (m === null) return null;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/**
 * Decides whether we can talk to a peer announcing `peer`. On success,
 * `version` is the one both speak: the common major and the lower minor.
 */
export function negotiateVersion(peer: string, ours: string = PROTOCOL_VERSION): VersionNegotiation {
  const mine = parseVersion(ours);
  if (mine === null) throw new TypeError(`invalid local protocol version ${JSON.stringify(ours)}`);
  const theirs = parseVersion(peer);
  if (theirs === null) {
    return { ok: false, error: { code: 'unsupported_version', message: `unparsable protocol version ${preview(peer)}, expected major.minor like ${ours}` } };
  }
  if (theirs.major !== mine.major) {
    return { ok: false, error: { code: 'unsupported_version', message: `protocol ${peer} is not supported: this side speaks ${mine.major}.x (${ours})` } };
  }
  return { ok: true, version: `${mine.major}.${Math.min(mine.minor, theirs.minor)}` };
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
