import { InvalidArgumentError, type Command } from 'commander';
import { isValidId, type AllocationRule, type StoreId } from '@scoville/crdt-inventory';
import { applyAllocationChange } from '../store/sql-allocation-store.js';
import type { HubStorage } from '../store/hub-storage.js';
import { DEFAULT_ALLOCATION_POLICY } from '@scoville/crdt-inventory';

export interface AllocationCliDeps {
  withStorage: <T>(fn: (s: HubStorage) => Promise<T>) => Promise<T>;
  out: (json: unknown, human: string) => void;
  storeArg: (v: string) => string;
  /** An error the CLI reports with a code (exit 2 for bad arguments). */
  fail: (code: string, message: string, exitCode?: number) => Error;
}

const ruleText = (r: AllocationRule): string =>
  r.mode === 'share' ? `share ${r.share}` : r.mode === 'units' ? `units ${r.units}` : r.mode === 'keep' ? `keep ${r.keep}` : 'none';

const whole = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`${name} must be a whole number ≥ 0, got ${v}`);
  return Number(v);
};

/**
 * `sync-hub allocation set|get`: a store's online allocation policy, written
 * straight to the database (audited); running hubs pick a change up within
 * ~2 s and push it to the store's agents.
 */
export function registerAllocationCommands(program: Command, deps: AllocationCliDeps): void {
  const allocation = program.command('allocation').description('online allocation policy per store (how much stock the web shop may promise)');
  allocation
    .command('set <storeId>')
    .description('set the default rule of a store, or a SKU override with --sku (exactly one of --share, --units, --keep, --none)')
    .option('--sku <sku>', 'only this SKU (an override of the default)')
    .option('--share <fraction>', 'online gets floor(sellable × fraction), 0..1', (v: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`share must be a number from 0 to 1, got ${v}`);
      return n;
    })
    .option('--units <n>', 'online gets up to n units', whole('units'))
    .option('--keep <n>', 'the store keeps n units, online gets the rest', whole('keep'))
    .option('--none', 'nothing goes online')
    .option('--clear', 'with --sku: drop the override (the default applies again)')
    .action(async (id: string, o: { sku?: string; share?: number; units?: number; keep?: number; none?: boolean; clear?: boolean }) => {
      const store = deps.storeArg(id) as StoreId;
      const rules: AllocationRule[] = [];
      if (o.share !== undefined) rules.push({ mode: 'share', share: o.share });
      if (o.units !== undefined) rules.push({ mode: 'units', units: o.units });
      if (o.keep !== undefined) rules.push({ mode: 'keep', keep: o.keep });
      if (o.none) rules.push({ mode: 'none' });
      if (o.clear && (o.sku === undefined || rules.length > 0)) throw deps.fail('invalid_argument', '--clear goes with --sku and no rule', 2);
      if (!o.clear && rules.length !== 1) throw deps.fail('invalid_argument', 'give exactly one of --share, --units, --keep, --none', 2);
      if (o.sku !== undefined && !isValidId(o.sku)) throw deps.fail('invalid_argument', `"${o.sku}" is not a valid SKU`, 2);
      const change = o.sku !== undefined ? { skus: { [o.sku]: o.clear ? null : rules[0]! } } : { default: rules[0]! };
      const saved = await deps.withStorage(async (s) => {
        if (!(await s.access.listStores()).some((x) => x.storeId === store)) throw deps.fail('unknown_store', `no store ${store}`);
        const r = await s.allocation.updateAllocation(store, change, Date.now());
        await s.audit.audit({ at: Date.now(), actor: 'cli', action: 'allocation.set', detail: { storeId: store, change, version: r.version } });
        return r;
      });
      deps.out({ storeId: store, policy: saved.policy, version: saved.version }, describe(store, saved.policy));
    });
  allocation
    .command('get <storeId>')
    .description("show a store's policy (the default is none: the store keeps everything)")
    .action(async (id: string) => {
      const store = deps.storeArg(id) as StoreId;
      const row = await deps.withStorage(async (s) => {
        if (!(await s.access.listStores()).some((x) => x.storeId === store)) throw deps.fail('unknown_store', `no store ${store}`);
        return s.allocation.allocation(store);
      });
      const policy = row?.policy ?? applyAllocationChange(DEFAULT_ALLOCATION_POLICY, {});
      deps.out({ storeId: store, policy, version: row?.version ?? 0 }, describe(store, policy));
    });
}

function describe(store: string, policy: { default: AllocationRule; skus: Record<string, AllocationRule> }): string {
  const lines = [`${store}\tdefault\t${ruleText(policy.default)}`];
  for (const sku of Object.keys(policy.skus).sort()) lines.push(`${store}\t${sku}\t${ruleText(policy.skus[sku]!)}`);
  return lines.join('\n');
}
