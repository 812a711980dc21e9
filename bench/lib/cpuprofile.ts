import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

/** Summarises V8 .cpuprofile files (node --cpu-prof): where a process's main thread spent its time. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  /** file:line relative to the repository (node:internal/... for Node's own, (native) for C++). */
  where: string;
  /** Share of the non-idle samples that were in the function itself. */
  selfShare: number;
  /** Share of the non-idle samples with the function on the stack. */
  totalShare: number;
}

export interface ProfileSummary {
  profiles: number;
  /** Non-idle sampled time, in milliseconds (all profiles together). */
  busyMs: number;
  idleMs: number;
  gcShare: number;
  /** By self time. */
  top: HotFunction[];
  /** By inclusive time, only functions of the repository's own files (engine/, compiled in dist/ or bench/.out/build/). */
  topTotal: HotFunction[];
}

/** A profile file and, optionally, the part of it to count. */
export interface ProfileSlice {
  file: string;
  /**
   * CLOCK_MONOTONIC microseconds (what process.hrtime and V8's profiler both use): only
   * samples inside it count, e.g. the timed phase without start-up and shutdown.
   */
  window?: { startUs: number; endUs: number };
}

const root = new URL('../..', import.meta.url).pathname;

function where(url: string, line: number): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const rel = path.startsWith(root) ? relative(root, path) : path;
  return `${rel}:${line + 1}`;
}

/**
 * Sample time is wall time on the main thread: a synchronous system call that blocks (a
 * write waiting on the disk) counts as time in that native function, and GC helper
 * threads do not appear at all (only main-thread pauses, as "(garbage collector)").
 */
export function summarizeProfiles(slices: readonly ProfileSlice[], topN = 15): ProfileSummary {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let gc = 0;
  for (const { file, window } of slices) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    const byId = new Map<number, ProfileNode>();
    const parent = new Map<number, number>();
    for (const n of p.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n.id);
    }
    const key = (n: ProfileNode) =>
      `${n.callFrame.functionName || '(anonymous)'}\u0000${where(n.callFrame.url, n.callFrame.lineNumber)}`;
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] ?? 0;
      if (window && (t < window.startUs || t > window.endUs)) continue;
      const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
      const node = byId.get(p.samples[i]);
      if (!node) continue;
      const fn = node.callFrame.functionName;
      if (fn === '(idle)') {
        idle += dt;
        continue;
      }
      busy += dt;
      if (fn === '(garbage collector)') gc += dt;
      const k = key(node);
      self.set(k, (self.get(k) ?? 0) + dt);
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const n = byId.get(id)!;
        if (n.callFrame.functionName === '(root)') break;
        const kk = key(n);
        if (seen.has(kk)) continue;
        seen.add(kk);
        total.set(kk, (total.get(kk) ?? 0) + dt);
      }
    }
  }
  const b = Math.max(busy, 1e-9);
  const all = [...total.keys()].map((k): HotFunction => {
    const [name, loc] = k.split('\u0000');
    return { name, where: loc, selfShare: (self.get(k) ?? 0) / b, totalShare: (total.get(k) ?? 0) / b };
  });
  const top = [...all].sort((x, y) => y.selfShare - x.selfShare).slice(0, topN);
  const topTotal = all
    .filter((f) => /^(dist\/|bench\/\.out\/build\/)?engine\//.test(f.where))
    .sort((x, y) => y.totalShare - x.totalShare)
    .slice(0, topN);
  return { profiles: slices.length, busyMs: busy, idleMs: idle, gcShare: gc / b, top, topTotal };
}

export function formatProfile(title: string, s: ProfileSummary): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`.padStart(6);
  const lines = [
    `${title}: ${s.profiles} profile(s), main thread ${Math.round(s.busyMs)} ms busy, ` +
      `${Math.round(s.idleMs)} ms idle, GC pauses ${(s.gcShare * 100).toFixed(1)}% of busy`,
    '    self  total  function (file:line)',
  ];
  for (const f of s.top) lines.push(`  ${pct(f.selfShare)} ${pct(f.totalShare)}  ${f.name} (${f.where})`);
  lines.push('  broker functions by inclusive time:');
  for (const f of s.topTotal)
    lines.push(`  ${pct(f.selfShare)} ${pct(f.totalShare)}  ${f.name} (${f.where})`);
  return lines.join('\n');
}
