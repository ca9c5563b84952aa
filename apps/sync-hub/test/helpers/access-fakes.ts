/** Fakes for the auth caches' tests: revoke listeners, and lookups whose answers a test holds back. */

/** An `onRevoke` subscription point and the revoke that calls its listeners. */
export function revokeListeners() {
  const listeners = new Set<() => void>();
  return {
    onRevoke: (l: () => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    revoke: () => {
      for (const l of listeners) l();
    },
    get count() {
      return listeners.size;
    },
  };
}

/**
 * A gate for fake lookups: a lookup reads first, then `await gate.passed()`,
 * so while held it answers what was true when it read, late.
 */
export function lookupGate() {
  let gate: Promise<void> | null = null;
  return {
    passed: (): Promise<void> | undefined => gate ?? undefined,
    /** Holds every lookup's answer until the returned function is called. */
    hold: (): (() => void) => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => {
        gate = null;
        open();
      };
    },
  };
}
