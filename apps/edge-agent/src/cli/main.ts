import { createRequire } from 'node:module';
import { Command } from 'commander';
import { DEFAULT_DATA_DIR } from '../data-dir.js';
import { registerCommands } from './commands.js';
import { CliError } from './client.js';

const program = new Command();
program
  .name('edge-agent')
  .description('Scoville store agent: sells, counts and holds stock offline; syncs to the hub when it can.')
  .version(`edge-agent ${(createRequire(import.meta.url)('../../package.json') as { version: string }).version} (node ${process.version})`, '-V, --version')
  .option('--data <dir>', 'agent data folder', process.env.SCOVILLE_AGENT_DATA ?? DEFAULT_DATA_DIR)
  .option('--agent <url>', 'URL of the running agent (default: read from the data folder)')
  .option('--terminal-token <token>', 'terminal token: `start` requires it on every request, other commands present it (or SCOVILLE_TERMINAL_TOKEN)')
  .option('--json', 'machine-readable output', false)
  .showHelpAfterError()
  // Usage errors follow --json too: scripts parse stderr as {error:{code,message}}.
  .configureOutput({
    outputError: (str, write) =>
      write(process.argv.includes('--json') ? `${JSON.stringify({ error: { code: 'usage', message: str.replace(/^error: /, '').trim() } })}\n` : str),
  });

// Before registerCommands: subcommands copy the exit override when they are created.
program.exitOverride();
registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const json = program.opts<{ json?: boolean }>().json === true;
  if (e instanceof CliError) {
    if (json) process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } })}\n`);
    else process.stderr.write(`error: ${e.message}${formatDetails(e.details)}\n`);
    process.exit(e.exitCode);
  }
  const ce = e as { code?: string; exitCode?: number };
  if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
    // Help and version exit 0; every commander error is a usage error: exit 2, like a bad positional value (args.ts).
    process.exit(ce.exitCode === 0 ? 0 : 2);
  }
  const err = e as { code?: string; message?: string };
  if (json) process.stderr.write(`${JSON.stringify({ error: { code: err.code ?? 'failed', message: err.message } })}\n`);
  else process.stderr.write(`error: ${err.message ?? String(e)}\n`);
  process.exit(1);
}

function formatDetails(details: unknown): string {
  const lines = (details as { error?: { lines?: { sku: string; requested: number; available: number }[] } })?.error?.lines;
  if (!Array.isArray(lines)) return '';
  return lines.map((l) => `\n  ${l.sku}: requested ${l.requested}, available ${l.available}`).join('');
}

