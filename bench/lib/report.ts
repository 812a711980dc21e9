import type { MachineInfo } from './machine.js';
import { machineLine } from './machine.js';

/** One row of a bench's table; `ratio` is sluice / baseline for the same unit. */
export interface BenchCase {
  name: string;
  unit: string;
  baseline: number;
  sluice: number;
  ratio: number;
}

export function benchCase(name: string, unit: string, baseline: number, sluice: number): BenchCase {
  return { name, unit, baseline, sluice, ratio: baseline > 0 ? sluice / baseline : 0 };
}

/** Human formatting: thousands separators for big values, a few significant digits for small ones. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function round(v: number): number {
  const a = Math.abs(v);
  const digits = a >= 1000 ? 0 : a >= 1 ? 2 : 4;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The markdown table every bench prints: case | unit | baseline | sluice | ratio. */
export function formatTable(cases: readonly BenchCase[]): string {
  const rows = [
    ['case', 'unit', 'baseline', 'sluice', 'ratio'],
    ...cases.map((c) => [c.name, c.unit, fmt(c.baseline), fmt(c.sluice), c.ratio.toFixed(3)]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const right = [false, false, true, true, true];
  const line = (r: string[]) =>
    `| ${r.map((cell, i) => (right[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join('\n');
}

export interface Report {
  title: string;
  machine: MachineInfo;
  cases: BenchCase[];
  /** Lines printed under the table (what the baseline is, settings used). */
  notes?: string[];
}

/** Prints the report: the table for people, or only `{"cases":[...]}` on stdout with --json. */
export function printReport(report: Report, json: boolean): void {
  if (json) {
    const cases = report.cases.map((c) => ({
      name: c.name,
      unit: c.unit,
      baseline: round(c.baseline),
      sluice: round(c.sluice),
      ratio: round(c.ratio),
    }));
    process.stdout.write(`${JSON.stringify({ cases })}\n`);
    return;
  }
  const out = [
    `## ${report.title}`,
    '',
    `Machine: ${machineLine(report.machine)}`,
    '',
    formatTable(report.cases),
  ];
  if (report.notes?.length) out.push('', ...report.notes.map((n) => `- ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Progress and diagnostics: always stderr, so stdout stays the table or the JSON. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}
