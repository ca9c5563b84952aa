import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DEFAULT_DATA_DIR = './.scoville/agent';

/** The files of one agent's data folder. */
export function dataPaths(dir: string) {
  const root = resolve(dir);
  return {
    root,
    db: join(root, 'agent.db'),
    /** Written by a running agent: where its API listens. */
    runtime: join(root, 'agent.json'),
  };
}

export interface RuntimeInfo {
  url: string;
  pid: number;
  startedAt: number;
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function writeRuntime(dir: string, info: RuntimeInfo): void {
  const { runtime } = dataPaths(dir);
  writeFileSync(`${runtime}.tmp`, JSON.stringify(info));
  renameSync(`${runtime}.tmp`, runtime);
}

export function readRuntime(dir: string): RuntimeInfo | null {
  const { runtime } = dataPaths(dir);
  if (!existsSync(runtime)) return null;
  try {
    return JSON.parse(readFileSync(runtime, 'utf8')) as RuntimeInfo;
  } catch {
    return null;
  }
}

export function removeRuntime(dir: string, pid: number): void {
  const info = readRuntime(dir);
  if (info?.pid === pid) rmSync(dataPaths(dir).runtime, { force: true });
}
