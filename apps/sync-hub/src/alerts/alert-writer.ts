import type { AlertStore } from '../store/alert-store.js';

/**
 * The alert-writer lease as one hub process holds it (AlertStore.lead):
 * renewed once a third of it is used; `takeOver` runs each time this
 * process becomes the writer (learn the open alerts, check everything).
 */
export class WriterLease {
  private until = 0;
  private leading = false;

  constructor(
    private readonly alerts: Pick<AlertStore, 'lead'>,
    private readonly me: string,
    private readonly ms: number,
  ) {}

  /** True while this process is the writer. */
  async hold(takeOver: () => Promise<void>): Promise<boolean> {
    const now = Date.now();
    if (this.leading && now <= this.until - (this.ms * 2) / 3) return true;
    if (!(await this.alerts.lead(this.me, now, this.ms))) {
      this.leading = false;
      this.until = 0;
      return false;
    }
    if (!this.leading) await takeOver(); // thrown: tried again at the next call
    this.leading = true;
    this.until = now + this.ms;
    return true;
  }
}

/**
 * `work` run one at a time: a call while it runs makes it run once more
 * after (changes seen meanwhile are not missed); `run` resolves when that is
 * done, `idle` when nothing runs. A failure is reported and ends the round
 * (the caller's state stays dirty).
 */
export function serialised(work: () => Promise<void>, onError: (e: unknown) => void, stopped: () => boolean): { run: () => Promise<void>; idle: () => Promise<void> } {
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await work();
        } catch (e) {
          onError(e);
          break;
        }
      } while (again && !stopped());
    })().finally(() => {
      running = null;
    });
    return running;
  };
  return { run, idle: async () => void (await running) };
}
