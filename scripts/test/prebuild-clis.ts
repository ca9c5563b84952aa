/**
 * Vitest global setup: bundles each app's CLI once per test run (esbuild,
 * the same compiler tsx uses per file at every start) into
 * `apps/<app>/.cli-<run>/bin/<app>.mjs`, and sets
 * SCOVILLE_TEST_PREBUILT_CLI=<run> so `apps/<app>/bin/<app>.js` loads the
 * bundle instead of registering tsx. Each run has its own folder (removed at
 * its end): two test runs in one checkout at once must not delete or rebuild
 * each other's bundle under their running CLIs.
 *
 * Why: the story, crash and chaos tests start the real CLIs as child
 * processes hundreds of times; through tsx each start resolves every module
 * through Node 20's off-thread loader hooks (measured under load: 4.5–6.4 s
 * for `sync-hub --version` vs 2.0–3.2 s bundled). The bundle is rebuilt from
 * the sources at every run, never committed (the `.cli-<run>` folders are git-ignored). The path
 * operators take (bin → tsx → src) keeps its own test: `version.test.ts`
 * runs the bins without the variable.
 *
 * Dependencies stay external (resolved from node_modules as usual); the
 * workspace packages (`@scoville/*`, TypeScript sources) are bundled in. The
 * bundle sits two folders below the app, as `src/<dir>/<file>.ts` does, so
 * `new URL('../../package.json', import.meta.url)` finds the same files.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PREBUILT_CLI_ENV = 'SCOVILLE_TEST_PREBUILT_CLI';
const APPS = ['sync-hub', 'edge-agent'] as const;

function externals(): string[] {
  const deps = new Set<string>();
  for (const dir of ['apps/sync-hub', 'apps/edge-agent', 'packages/protocol', 'packages/crdt-inventory']) {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies ?? {})) if (!d.startsWith('@scoville/')) deps.add(d);
  }
  return [...deps];
}

/** Folders of runs that ended without their teardown (killed), a day old or more. */
function removeStale(app: string): void {
  const dir = path.join(ROOT, 'apps', app);
  for (const name of readdirSync(dir)) {
    if (!/^\.cli(-[a-z0-9]+)?$/.test(name)) continue;
    const full = path.join(dir, name);
    if (Date.now() - statSync(full).mtimeMs > 24 * 3600_000 || name === '.cli') rmSync(full, { recursive: true, force: true });
  }
}

export default async function setup(): Promise<() => void> {
  const external = externals();
  const t0 = performance.now();
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const folders = APPS.map((app) => path.join(ROOT, 'apps', app, `.cli-${run}`));
  await Promise.all(
    APPS.map((app, i) => {
      removeStale(app);
      return build({
        entryPoints: { [app]: path.join(ROOT, 'apps', app, 'src/cli/main.ts') },
        outdir: path.join(folders[i]!, 'bin'),
        outExtension: { '.js': '.mjs' },
        bundle: true,
        // Dynamic imports stay lazy (a chunk each): the admin commands do not load the server.
        splitting: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        sourcemap: 'inline',
        external,
        logLevel: 'warning',
      });
    }),
  );
  process.env[PREBUILT_CLI_ENV] = run;
  console.log(`prebuilt the CLIs for the tests in ${Math.round(performance.now() - t0)} ms (apps/*/.cli-${run}/; ${PREBUILT_CLI_ENV}=${run})`);
  return () => {
    for (const f of folders) rmSync(f, { recursive: true, force: true });
  };
}
