import { describe, expect, it } from 'vitest';
import { CloseCode, PROTOCOL_VERSION, closeCodeName, negotiateVersion, parseVersion } from '../src/index.js';

describe('version', () => {
  it('is major.minor', () => {
    expect(parseVersion(PROTOCOL_VERSION)).toEqual({ major: 1, minor: 1 });
  });

  it('speaks the lower minor of the same major', () => {
    expect(negotiateVersion('1.0')).toEqual({ ok: true, version: '1.0' });
    expect(negotiateVersion('1.1')).toEqual({ ok: true, version: '1.1' });
    expect(negotiateVersion('1.4')).toEqual({ ok: true, version: '1.1' });
    expect(negotiateVersion('1.2', '1.5')).toEqual({ ok: true, version: '1.2' });
  });

  it('refuses another major and anything unparsable', () => {
    for (const peer of ['2.0', '0.9', '1', '1.0.0', 'v1.0', '01.0', '', ' 1.0', '1.x']) {
      const result = negotiateVersion(peer);
      expect(result.ok, peer).toBe(false);
      if (!result.ok) expect(result.error.code).toBe('unsupported_version');
    }
  });
});

describe('close codes', () => {
  it('has the agreed numbers', () => {
    expect(CloseCode).toEqual({
      Normal: 1000,
      GoingAway: 1001,
      BadMessage: 4400,
      Unauthorized: 4401,
      Forbidden: 4403,
      UnsupportedVersion: 4406,
      DeadLink: 4408,
      TooLarge: 4413,
      Overloaded: 4429,
    });
    expect(closeCodeName(4406)).toBe('UnsupportedVersion');
    expect(closeCodeName(1006)).toBeUndefined();
  });
});
