/**
 * `npm run chaos -- [--minutes N | --seconds N] [--seed N] [--agents N] [--json]`:
 * a fault campaign against real hubs, agents and PostgreSQL on 127.0.0.1.
 * Exit 0 when every check passed, 1 on any violation, 2 on bad usage.
 * See docs/chaos.md.
 */
import { current, runCampaign } from './campaign.js';
import { parseOptions, USAGE, type ChaosOptions } from './options.js';
import { formatReport } from './report.js';

let o: ChaosOptions;
try {
  o = parseOptions(process.argv.slice(2));
} catch (e) {
  const msg = String((e as Error).message);
  process.stderr.write(`${msg}${msg === USAGE ? '' : `\n${USAGE}`}\n`);
  process.exit(2);
}

const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: tearing down`);
    void (current?.close(true) ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

try {
  const report = await runCampaign(o, log);
  if (o.json) {
    process.stderr.write(`${formatReport(report)}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    process.stdout.write(`${formatReport(report)}\n`);
  }
  process.exit(report.ok ? 0 : 1);
} catch (e) {
  log(`campaign aborted: ${String((e as Error).message ?? e)}`);
  process.exit(1);
}
