import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'scripts/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash and sync tests start child processes and real databases; two
    // cores do not gain from more parallel files than this.
    maxWorkers: 2,
    // The CLIs the tests start as child processes, bundled once per run.
    globalSetup: ['scripts/test/prebuild-clis.ts'],
  },
});
