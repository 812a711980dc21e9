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
  // Rows are the events' own (a retry encodes them again): a key's first row is kept as it is
  // and copied only when a later row of the same key must change it.
  const byKey = new Map<unknown, Record<string, unknown>>();
  let copied: Set<unknown> | null = null;
  const keyOf = keyFunction(key);
  for (const row of rows) {
    const k = keyOf(row);
    let seen = byKey.get(k);
    if (!seen) {
      byKey.set(k, row as Record<string, unknown>);
      continue;
    }
    if (conflict.kind === 'ignore') continue;
    if (!copied?.has(k)) {
      byKey.set(k, (seen = { ...seen }));
      (copied ??= new Set()).add(k);
    }
    if (conflict.kind === 'upsert') {
      for (const c of conflict.update) seen[c] = row[c];
    } else {
      for (const c in conflict.merge) seen[c] = merge(conflict.merge[c]!, seen[c], row[c]);
    }
  }
  return [...byKey.values()];
}

/**
 * One key column's Map key. Strings, the usual key, are their own key; other values become
 * strings that no PostgreSQL text value can equal (text cannot hold NUL), except numbers, which
 * equal their decimal text as the database would cast it.
 */
function keyPart(v: unknown): unknown {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return `\u0000d${v.getTime()}`;
  if (Buffer.isBuffer(v)) return `\u0000b${v.toString('hex')}`;
  return v === null || v === undefined ? '\u0000n' : `\u0000v${String(v)}`;
}

function keyFunction(key: readonly string[]): (row: Row) => unknown {
  if (key.length === 1) {
    const [k] = key as [string];
    return (row) => keyPart(row[k]);
  }
  return (row) => key.map((k) => String(keyPart(row[k]))).join('\u0000');
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
