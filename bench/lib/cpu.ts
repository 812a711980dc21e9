import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU accounting from /proc, to tell what limits a case: which process burnt the cores
 * while it ran. Linux only; elsewhere every figure reads as 0.
 */
let ticksPerSec = 0;
function clockTicks(): number {
  if (ticksPerSec === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticksPerSec = Number(r.stdout?.trim()) || 100;
  }
  return ticksPerSec;
}

/**
 * user+system CPU milliseconds a process (all its threads) has used so far, or with
 * `mainThreadOnly` its main thread alone (JavaScript runs there; GC helpers and the libuv
 * pool are other threads). 0 when it is gone.
 */
export function processCpuMs(pid: number, mainThreadOnly = false): number {
  try {
    const stat = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  } catch {
    return 0;
  }
}

/** Machine-wide busy and iowait CPU milliseconds so far (all cores together). */
export function machineCpuMs(): { busy: number; iowait: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [user, nice, system, _idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const t = 1000 / clockTicks();
    return { busy: (user + nice + system + irq + softirq + steal) * t, iowait: iowait * t };
  } catch {
    return { busy: 0, iowait: 0 };
  }
}

/** CPU use over one timed phase, in cores (CPU ms / wall ms). */
export interface CpuSplit {
  broker: number;
  /** The broker's main (JavaScript) thread: 1.0 means the event loop is saturated. */
  brokerMain: number;
  /** The bench process itself (where kafkajs runs). */
  bench: number;
  /** A client in a child process (kcat), when its CPU time is known; else 0. */
  child: number;
  /** Everything else on the machine: kernel threads (writeback, softirq), other work. */
  other: number;
  iowait: number;
}

/** Starts measuring; call the result at the end, with the child client's CPU ms if any. */
export function cpuMeter(brokerPid: number): (childCpuMs?: number | null) => CpuSplit {
  const start = Date.now();
  const b0 = processCpuMs(brokerPid);
  const bm0 = processCpuMs(brokerPid, true);
  const self0 = process.cpuUsage();
  const m0 = machineCpuMs();
  return (childCpuMs) => {
    const wall = Math.max(1, Date.now() - start);
    const broker = processCpuMs(brokerPid) - b0;
    const brokerMain = processCpuMs(brokerPid, true) - bm0;
    const selfUse = process.cpuUsage(self0);
    const bench = (selfUse.user + selfUse.system) / 1000;
    const child = childCpuMs ?? 0;
    const m1 = machineCpuMs();
    const busy = m1.busy - m0.busy;
    return {
      broker: broker / wall,
      brokerMain: brokerMain / wall,
      bench: bench / wall,
      child: child / wall,
      other: Math.max(0, busy - broker - bench - child) / wall,
      iowait: (m1.iowait - m0.iowait) / wall,
    };
  };
}

export function formatCpu(c: CpuSplit): string {
  const f = (v: number) => v.toFixed(2);
  return `cores: broker ${f(c.broker)} (main ${f(c.brokerMain)}) bench ${f(c.bench)} kcat ${f(c.child)} other ${f(c.other)} iowait ${f(c.iowait)}`;
}
