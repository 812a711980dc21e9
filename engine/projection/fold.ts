import type { MergeOp, Row, TargetSpec } from './definition.js';
import { ValueEncodeError } from './sqlText.js';

/**
 * Folds one batch's rows of a target into at most one row per key, the way applying them one
 * by one would leave the table: `ON CONFLICT DO UPDATE` cannot touch the same row twice in one
 * statement, and fewer rows is less work for the database anyway. The merge statement then
 * applies the folded row to what the table already holds with the same policy.
 */
export function foldRows(target: TargetSpec, rows: readonly Row[]): Row[] {
  const { key, conflict } = target;
  if (key.length === 0 || rows.length < 2) return rows as Row[];
  const byKey = new Map<string, Record<string, unknown>>();
  const keyOf = keyFunction(key);
  for (const row of rows) {
    const k = keyOf(row);
    const seen = byKey.get(k);
    if (!seen) {
      byKey.set(k, { ...row });
      continue;
    }
    if (conflict.kind === 'upsert') {
      for (const c of conflict.update) seen[c] = row[c];
    } else if (conflict.kind === 'accumulate') {
      for (const c in conflict.merge) seen[c] = merge(conflict.merge[c]!, seen[c], row[c]);
    }
  }
  return [...byKey.values()];
}

function keyPart(v: unknown): string {
  if (v instanceof Date) return `d${v.getTime()}`;
  if (Buffer.isBuffer(v)) return `b${v.toString('hex')}`;
  return v === null || v === undefined ? 'n' : `v${String(v)}`;
}

function keyFunction(key: readonly string[]): (row: Row) => string {
  if (key.length === 1) {
    const [k] = key as [string];
    return (row) => keyPart(row[k]);
  }
  return (row) => key.map((k) => keyPart(row[k])).join('\u0000');
}

function toNumberish(v: unknown): number | bigint {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new ValueEncodeError(`cannot accumulate ${JSON.stringify(v)}: not a number`);
}

/** NULL is the identity of every op, as COALESCE / LEAST / GREATEST treat it in the merge SQL. */
function merge(op: MergeOp, a: unknown, b: unknown): unknown {
  if (op === 'replace') return b;
  if (a === null || a === undefined) return b;
  if (b === null || b === undefined) return a;
  if (op === 'sum') {
    const x = toNumberish(a);
    const y = toNumberish(b);
    return typeof x === 'bigint' || typeof y === 'bigint' ? BigInt(x) + BigInt(y) : x + y;
  }
  if (a instanceof Date || b instanceof Date) {
    const x = a instanceof Date ? a.getTime() : Number(a);
    const y = b instanceof Date ? b.getTime() : Number(b);
    return (op === 'min' ? x <= y : x >= y) ? a : b;
  }
  const x = toNumberish(a);
  const y = toNumberish(b);
  return (op === 'min' ? x <= y : x >= y) ? a : b;
}
