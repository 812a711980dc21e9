import { MigrationError } from './errors.js';

/**
 * What a database offers that a migration may branch on; the runner decides it once per
 * database and records it (see capabilities.ts). `timescaledb` is the installed extension
 * version, or null on plain PostgreSQL.
 */
export interface Capabilities {
  timescaledb: string | null;
}

/**
 * `-- sluice:` markers, whole-line SQL comments so that every file stays valid SQL for psql:
 *
 *   -- sluice:no-transaction            the file runs statement by statement, outside a transaction
 *   -- sluice:if timescaledb            also `!timescaledb`, `timescaledb >= 2.13` (>=, >, <=, <, =)
 *   -- sluice:elif <condition>
 *   -- sluice:else
 *   -- sluice:end
 *
 * Conditionals do not nest. Lines of branches not taken, and marker lines, become empty
 * lines, so line numbers in database errors still match the file.
 */
export interface MigrationScript {
  transactional: boolean;
  lines: string[];
  /** Per line: null outside conditionals, else the block and branch that guards it. */
  guards: Array<{ block: number; branch: number } | null>;
  /** Per block: its branches' conditions in order, null for `else`. */
  blocks: Array<Array<Condition | null>>;
}

const OPERATORS = ['>=', '<=', '>', '<', '='] as const;
type Operator = (typeof OPERATORS)[number];
const CAPABILITIES = ['timescaledb'] as const;

export interface Condition {
  capability: keyof Capabilities;
  negate: boolean;
  compare?: { op: Operator; version: number[] };
}

const MARKER = /^\s*--\s*sluice:(\S*)\s*(.*?)\s*$/;

export function parseScript(text: string, file: string): MigrationScript {
  const lines = text.split(/\r?\n/);
  const script: MigrationScript = { transactional: true, lines, guards: [], blocks: [] };
  let open: { block: number; branch: number; sawElse: boolean; line: number } | null = null;
  const fail = (n: number, why: string): never => {
    throw new MigrationError('SLUICE_MIGRATION_INVALID', `${file} line ${n + 1}: ${why}`, { file });
  };
  for (let n = 0; n < lines.length; n++) {
    const m = MARKER.exec(lines[n]);
    if (!m) {
      script.guards.push(open && { block: open.block, branch: open.branch });
      continue;
    }
    script.guards.push(null);
    const [, directive, arg] = m;
    const bad = (why: string): never => fail(n, why);
    if (directive === 'no-transaction') {
      if (arg) bad('sluice:no-transaction takes no argument');
      if (open) bad('sluice:no-transaction applies to the whole file; put it outside sluice:if');
      script.transactional = false;
    } else if (directive === 'if') {
      if (open) bad(`sluice:if inside the sluice:if of line ${open.line + 1}; conditionals do not nest`);
      script.blocks.push([parseCondition(arg, bad)]);
      open = { block: script.blocks.length - 1, branch: 0, sawElse: false, line: n };
    } else if (directive === 'elif' || directive === 'else') {
      if (!open) return bad(`sluice:${directive} without sluice:if`);
      if (open.sawElse) bad(`sluice:${directive} after sluice:else`);
      if (directive === 'else' && arg) bad('sluice:else takes no condition; use sluice:elif');
      script.blocks[open.block].push(directive === 'elif' ? parseCondition(arg, bad) : null);
      open.branch++;
      open.sawElse = directive === 'else';
    } else if (directive === 'end') {
      if (!open) bad('sluice:end without sluice:if');
      if (arg) bad('sluice:end takes no argument');
      open = null;
    } else {
      bad(`unknown marker "sluice:${directive}" (known: no-transaction, if, elif, else, end)`);
    }
  }
  if (open) fail(open.line, 'sluice:if without sluice:end');
  return script;
}

function parseCondition(text: string, fail: (why: string) => never): Condition {
  const m = /^(!?)\s*([a-z_]+)\s*(?:(>=|<=|>|<|=)\s*(\d+(?:\.\d+)*))?$/.exec(text);
  if (!m)
    return fail(`cannot read condition "${text}" (e.g. timescaledb, !timescaledb, timescaledb >= 2.13)`);
  const [, bang, name, op, version] = m;
  if (!(CAPABILITIES as readonly string[]).includes(name))
    return fail(`unknown capability "${name}" (known: ${CAPABILITIES.join(', ')})`);
  if (bang && op) return fail('a negated condition cannot compare versions');
  return {
    capability: name as keyof Capabilities,
    negate: bang === '!',
    compare: op ? { op: op as Operator, version: version.split('.').map(Number) } : undefined,
  };
}

export function evaluate(cond: Condition, caps: Capabilities): boolean {
  const installed = caps[cond.capability];
  if (cond.negate) return installed === null;
  if (installed === null) return false;
  if (!cond.compare) return true;
  const c = compareVersions(installed, cond.compare.version);
  switch (cond.compare.op) {
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    case '<':
      return c < 0;
    case '=':
      return c === 0;
  }
}

/** Compares the numeric prefix of a version ("2.14.2-dev" → 2.14.2), missing parts as 0. */
function compareVersions(installed: string, wanted: number[]): number {
  const have = (/^\d+(?:\.\d+)*/.exec(installed)?.[0] ?? '0').split('.').map(Number);
  for (let i = 0; i < Math.max(have.length, wanted.length); i++) {
    const d = (have[i] ?? 0) - (wanted[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The SQL to run on a database with `caps`: the taken branch of each conditional, same line numbers. */
export function renderScript(script: MigrationScript, caps: Capabilities): string {
  const taken = script.blocks.map((branches) => {
    const i = branches.findIndex((c) => c === null || evaluate(c, caps));
    return i; // -1: no branch taken, the block contributes nothing
  });
  return script.lines
    .map((line, n) => {
      if (MARKER.test(line)) return '';
      const g = script.guards[n];
      return g === null || taken[g.block] === g.branch ? line : '';
    })
    .join('\n');
}
