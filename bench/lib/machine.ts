import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

/** What a bench result was measured on; printed with every table. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  /** Extra tool versions, e.g. { kcat: '1.7.1 (librdkafka 2.0.2)' }. */
  tools: Record<string, string>;
  /** ISO date of the run. */
  date: string;
  /** 1-minute load average when the bench started: other work on the machine skews results. */
  loadAtStart: number;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return 'unknown CPU';
}

/** `kcat -V` says e.g. "Version 1.7.1 (JSON, ... librdkafka 2.0.2 builtin.features=...)". */
export function kcatVersion(bin = 'kcat'): string | null {
  const r = spawnSync(bin, ['-V'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const text = `${r.stdout}${r.stderr}`;
  const v = /Version\s+(\S+)/.exec(text)?.[1] ?? '?';
  const lib = /librdkafka\s+([\d.]+)/.exec(text)?.[1];
  return lib ? `${v} (librdkafka ${lib})` : v;
}

export function machineInfo(tools: Record<string, string> = {}): MachineInfo {
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: `Linux ${release()}`,
    tools,
    date: new Date().toISOString().slice(0, 10),
    loadAtStart: Math.round(loadavg()[0] * 100) / 100,
  };
}

export function machineLine(m: MachineInfo): string {
  const tools = Object.entries(m.tools).map(([k, v]) => `${k} ${v}`);
  return [
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB`,
    `node ${m.node}`,
    ...tools,
    m.kernel,
    m.date,
    `load ${m.loadAtStart} at start`,
  ].join('; ');
}
