/**
 * Vitest global setup: bundles each app's CLI once per test run (esbuild,
 * the same compiler tsx uses per file at every start) into
 * `apps/<app>/.cli/bin/<app>.mjs`, and sets SCOVILLE_TEST_PREBUILT_CLI=1 so
 * `apps/<app>/bin/<app>.js` loads the bundle instead of registering tsx.
 *
 * Why: the story, crash and chaos tests start the real CLIs as child
 * processes hundreds of times; through tsx each start resolves every module
 * through Node 20's off-thread loader hooks (measured under load: 4.5–6.4 s
 * for `sync-hub --version` vs 2.0–3.2 s bundled). The bundle is rebuilt from
 * the sources at every run, never committed (`.cli/` is ignored). The path
 * operators take (bin → tsx → src) keeps its own test: `version.test.ts`
 * runs the bins without the variable.
 *
 * Dependencies stay external (resolved from node_modules as usual); the
 * workspace packages (`@scoville/*`, TypeScript sources) are bundled in. The
 * bundle sits two folders below the app, as `src/<dir>/<file>.ts` does, so
 * `new URL('../../package.json', import.meta.url)` finds the same files.
 */
import { readFileSync, rmSync } from 'node:fs';
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

export default async function setup(): Promise<void> {
  const external = externals();
  const t0 = performance.now();
  await Promise.all(
    APPS.map((app) => {
      rmSync(path.join(ROOT, 'apps', app, '.cli'), { recursive: true, force: true });
      return build({
        entryPoints: { [app]: path.join(ROOT, 'apps', app, 'src/cli/main.ts') },
        outdir: path.join(ROOT, 'apps', app, '.cli/bin'),
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
  process.env[PREBUILT_CLI_ENV] = '1';
  console.log(`prebuilt the CLIs for the tests in ${Math.round(performance.now() - t0)} ms (apps/*/.cli/; ${PREBUILT_CLI_ENV}=1)`);
}
