/**
 * The bins as operators run them: `apps/<app>/bin/<app>.js` through tsx
 * (the rest of the suite starts the prebuilt bundle of the same sources,
 * scripts/test/prebuild-clis.ts). `--version` loads every command module.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'scoville-bins-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(app: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.SCOVILLE_TEST_PREBUILT_CLI;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'apps', app, 'bin', `${app}.js`), ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the bins through tsx', () => {
  it('sync-hub --version', async () => {
    const r = await run('sync-hub', ['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sync-hub \d+\.\d+\.\d+ \(node v/);
  }, 60_000);

  it('edge-agent --version', async () => {
    const r = await run('edge-agent', ['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^edge-agent \d+\.\d+\.\d+ \(node v/);
  }, 60_000);
});
