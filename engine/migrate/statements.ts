/**
 * Splits SQL into statements at top-level semicolons, for `-- sluice:no-transaction` files:
 * PostgreSQL runs several statements sent in one simple query as one implicit transaction,
 * which CREATE INDEX CONCURRENTLY or refresh_continuous_aggregate refuse, so each must be
 * sent alone. Understands what can hide a semicolon: '...' and E'...' strings, "..."
 * identifiers, $tag$...$tag$ bodies, -- and nested /* *\/ comments. Not SQL-standard
 * `BEGIN ATOMIC ... END` function bodies: write those with $$ quoting in such files.
 */
export function splitStatements(sql: string): Array<{ sql: string; line: number }> {
  const out: Array<{ sql: string; line: number }> = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = sql.slice(start, end);
    const body = stripComments(text).trim();
    if (body !== '') {
      const lead = text.search(/\S/);
      out.push({ sql: text.trim(), line: lineAt(sql, start + Math.max(lead, 0)) });
    }
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') i = endOfLine(sql, i);
    else if (c === '/' && next === '*') i = endOfBlockComment(sql, i);
    else if (c === "'") i = endOfQuoted(sql, i, "'", isEscapeString(sql, i));
    else if (c === '"') i = endOfQuoted(sql, i, '"', false);
    else if (c === '$') i = endOfDollarQuoted(sql, i);
    else if (c === ';') {
      push(i);
      i++;
    } else i++;
  }
  push(sql.length);
  return out;
}

/** 1-based line of a 0-based offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

function endOfLine(sql: string, i: number): number {
  const nl = sql.indexOf('\n', i);
  return nl < 0 ? sql.length : nl + 1;
}

function endOfBlockComment(sql: string, i: number): number {
  let depth = 0;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return i;
}

function isEscapeString(sql: string, quote: number): boolean {
  const prefix = sql[quote - 1];
  return (prefix === 'E' || prefix === 'e') && !/[A-Za-z0-9_$]/.test(sql[quote - 2] ?? '');
}

function endOfQuoted(sql: string, i: number, q: string, backslashEscapes: boolean): number {
  i++;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\') i += 2;
    else if (sql[i] === q && sql[i + 1] === q) i += 2;
    else if (sql[i] === q) return i + 1;
    else i++;
  }
  return i;
}

function endOfDollarQuoted(sql: string, i: number): number {
  // $1 is a parameter and a$b an identifier, not quotes.
  if (/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) return i + 1;
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
  if (!m) return i + 1;
  const close = sql.indexOf(m[0], i + m[0].length);
  return close < 0 ? sql.length : close + m[0].length;
}

function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '-' && text[i + 1] === '-') i = endOfLine(text, i);
    else if (text[i] === '/' && text[i + 1] === '*') i = endOfBlockComment(text, i);
    else out += text[i++];
  }
  return out;
}
