import type { Logger } from '../log.js';
import type { Notices } from '../store/hub-storage.js';
import type { AlertChange } from './ops-alerts.js';
import type { AlertWebhook } from './webhook.js';

const CHANNEL = 'scoville_alerts';
/** NOTIFY payloads are limited to 8,000 bytes: a larger detail is left to GET /alerts. */
const MAX_PAYLOAD = 7_000;

/**
 * Where an alert change goes from the process that made it: the webhook
 * (once, from here) and every hub process's storefront feed (NOTIFY, so a
 * client of any process sees alerts written by the writer process).
 */
export async function alertFanout(deps: { notices?: Notices; push: (c: AlertChange) => void; webhook: AlertWebhook | null; log: Logger }) {
  const unlisten = deps.notices
    ? await deps.notices.listen(CHANNEL, (payload) => {
        try {
          deps.push(JSON.parse(payload) as AlertChange);
        } catch {
          deps.log.warn('bad alert notice dropped');
        }
      })
    : null;
  return {
    changed(c: AlertChange): void {
      deps.webhook?.send(c);
      if (!deps.notices) return deps.push(c);
      let payload = JSON.stringify(c);
      if (payload.length > MAX_PAYLOAD) payload = JSON.stringify({ ...c, detail: { truncated: true } });
      // Not heard by anyone (database down): at least this process's feed has it.
      deps.notices.notify(CHANNEL, payload).catch(() => deps.push(c));
    },
    async close(): Promise<void> {
      await unlisten?.().catch(() => undefined);
      await deps.webhook?.stop();
    },
  };
}
