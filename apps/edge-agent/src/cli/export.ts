import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { csvLine } from './csv.js';

const EVENT_COLUMNS = ['seq', 'id', 'type', 'sku', 'qty', 'reason', 'terminal', 'at', 'forced', 'count', 'reservationId', 'expiresAt', 'to', 'idempotencyKey'] as const;
const STOCK_COLUMNS = ['sku', 'name', 'onHand', 'held', 'safetyStock', 'available', 'availableRaw', 'rights', 'lowStock', 'lastChange'] as const;

/** Streams events (page by page, any log size) or stock from the data folder. */
export async function exportData(dataDir: string, what: 'events' | 'stock', format: 'csv' | 'json', file?: string): Promise<void> {
  const { openAgent } = await import('../agent.js');
  const { store, inventory } = openAgent(dataDir);
  const sink: Writable = file ? createWriteStream(file) : process.stdout;
  const write = async (s: string) => {
    if (!sink.write(s)) await once(sink, 'drain');
  };
  try {
    if (what === 'stock') {
      const items = inventory.allStock(Date.now());
      if (format === 'json') await write(`${JSON.stringify(items, null, 2)}\n`);
      else {
        await write(`${csvLine([...STOCK_COLUMNS])}\n`);
        for (const i of items) await write(`${csvLine(STOCK_COLUMNS.map((c) => i[c] as string | number | boolean | null))}\n`);
      }
    } else {
      if (format === 'csv') await write(`${csvLine([...EVENT_COLUMNS])}\n`);
      else await write('[');
      let after = 0;
      let first = true;
      for (;;) {
        const page = store.events(after, 5_000);
        if (page.length === 0) break;
        for (const e of page) {
          const row = e as unknown as Record<string, string | number | boolean | null | undefined>;
          if (format === 'csv') await write(`${csvLine(EVENT_COLUMNS.map((c) => row[c]))}\n`);
          else {
            await write(`${first ? '\n' : ',\n'}${JSON.stringify(e)}`);
            first = false;
          }
        }
        after = page[page.length - 1]!.seq;
      }
      if (format === 'json') await write('\n]\n');
    }
  } finally {
    store.close();
    if (file) {
      sink.end();
      await once(sink, 'finish');
    }
  }
}
