import { readFileSync } from 'node:fs';

/**
 * CPU time (user + system) a process has used, from /proc/<pid>/stat, in
 * ms. Under a noisy machine the CPU a server spends per request moves far
 * less than its throughput does: other processes take cores, not work.
 */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}
