#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the repo needs no build step.
// Under the test suite a bundle of the same sources starts faster
// (scripts/test/prebuild-clis.ts builds it at the start of every run).
const prebuilt = process.env.SCOVILLE_TEST_PREBUILT_CLI;
if (prebuilt !== undefined && /^[a-z0-9]+$/.test(prebuilt)) {
  await import(`../.cli-${prebuilt}/bin/sync-hub.mjs`);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
