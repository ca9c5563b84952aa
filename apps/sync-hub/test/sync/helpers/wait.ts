/** Polling with a deadline, for story tests that wait on other processes. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined/false, and
 * returns that. On timeout it throws with `what` and the last probe's
 * `describe()` (or thrown error), so a failing wait says where it stood.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions & { describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = '';
    } catch (e) {
      last = `last probe threw: ${String(e)}`;
    }
    if (Date.now() > deadline) {
      let state = last;
      try {
        if (opts.describe) state = `${state}\n${await opts.describe()}`;
      } catch (e) {
        state = `${state}\n(describe threw: ${String(e)})`;
      }
      throw new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${what}${state ? `: ${state}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
