/**
 * The bytes of the PostgreSQL v3 wire protocol that the embedded server must understand:
 * framing of frontend (client → server) messages, the prepared-statement name rewrite that
 * gives each connection its own namespace, and where a backend reply ends. Knows bytes,
 * not sessions (see wireServer.ts for those).
 */

export const PROTOCOL_3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
/** PostgreSQL refuses messages over 1 GB; a larger length prefix is a broken or hostile client. */
const MAX_MESSAGE_BYTES = 1 << 30;

export type Frame =
  /** StartupMessage: the backend answers it (AuthenticationOk ... ReadyForQuery). */
  | { kind: 'startup'; bytes: Buffer }
  /** SSLRequest / GSSENCRequest: answered 'N' locally; the client then sends its startup. */
  | { kind: 'encryption-request' }
  | { kind: 'cancel' }
  /** A typed message, header included; `type` is its ASCII tag ('Q', 'P', 'S', ...). */
  | { kind: 'message'; type: string; bytes: Buffer };

export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

/** Reassembles frontend messages from socket chunks. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private started = false;

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.started ? this.typed() : this.untyped();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  /** Before the startup message: int32 length, int32 code, no type byte. */
  private untyped(): Frame | null {
    if (this.buf.length < 8) return null;
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > 10_000) throw new ProtocolViolation(`invalid startup packet length ${len}`);
    if (this.buf.length < len) return null;
    const code = this.buf.readInt32BE(4);
    const bytes = this.take(len);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) return { kind: 'encryption-request' };
    if (code === CANCEL_REQUEST) return { kind: 'cancel' };
    if (code !== PROTOCOL_3) throw new ProtocolViolation(`unsupported protocol version ${code}`);
    this.started = true;
    return { kind: 'startup', bytes };
  }

  private typed(): Frame | null {
    if (this.buf.length < 5) return null;
    const len = this.buf.readInt32BE(1);
    if (len < 4 || len > MAX_MESSAGE_BYTES) throw new ProtocolViolation(`invalid message length ${len}`);
    if (this.buf.length < len + 1) return null;
    const type = String.fromCharCode(this.buf[0]);
    return { kind: 'message', type, bytes: this.take(len + 1) };
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

function cstring(buf: Buffer, at: number): { value: string; end: number } {
  const nul = buf.indexOf(0, at);
  if (nul < 0) throw new ProtocolViolation('unterminated string in message');
  return { value: buf.toString('utf8', at, nul), end: nul + 1 };
}

function withName(msg: Buffer, start: number, end: number, name: string): Buffer {
  const out = Buffer.concat([msg.subarray(0, start), Buffer.from(`${name}\0`, 'utf8'), msg.subarray(end)]);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/**
 * Prefixes the prepared-statement name in Parse, Bind, Describe('S') and Close('S') so that
 * connections multiplexed onto one backend cannot collide (two pooled node-postgres clients
 * both preparing "q" would otherwise get `prepared statement "q" already exists`). The
 * unnamed statement and portals are left alone: a connection owns the backend from its
 * first message to its next ReadyForQuery, so they cannot be shared.
 * Returns the (possibly new) message and the statement it creates or closes, if any.
 */
export function namespaceStatement(
  type: string,
  msg: Buffer,
  prefix: string,
): { bytes: Buffer; prepared?: string; closed?: string } {
  switch (type) {
    case 'P': {
      const name = cstring(msg, 5);
      if (name.value === '') return { bytes: msg };
      const renamed = prefix + name.value;
      return { bytes: withName(msg, 5, name.end, renamed), prepared: renamed };
    }
    case 'B': {
      const portal = cstring(msg, 5);
      const stmt = cstring(msg, portal.end);
      if (stmt.value === '') return { bytes: msg };
      return { bytes: withName(msg, portal.end, stmt.end, prefix + stmt.value) };
    }
    case 'D':
    case 'C': {
      if (msg[5] !== 0x53 /* 'S' */) return { bytes: msg };
      const name = cstring(msg, 6);
      if (name.value === '') return { bytes: msg };
      const renamed = prefix + name.value;
      return { bytes: withName(msg, 6, name.end, renamed), closed: type === 'C' ? renamed : undefined };
    }
    default:
      return { bytes: msg };
  }
}

/**
 * The transaction status of the ReadyForQuery that ends `reply` ('I' idle, 'T' in a
 * transaction, 'E' failed transaction), or null when the reply does not end with one (the
 * client is mid extended-query sequence or in COPY and still owns the backend).
 */
export function endingReadyStatus(reply: Uint8Array): 'I' | 'T' | 'E' | null {
  let at = 0;
  let last = -1;
  while (at + 5 <= reply.length) {
    last = at;
    const len = (reply[at + 1] << 24) | (reply[at + 2] << 16) | (reply[at + 3] << 8) | reply[at + 4];
    at += 1 + len;
  }
  if (last < 0 || at !== reply.length || reply[last] !== 0x5a /* 'Z' */) return null;
  const status = String.fromCharCode(reply[last + 5]);
  return status === 'I' || status === 'T' || status === 'E' ? status : null;
}

export function syncMessage(): Buffer {
  return Buffer.from([0x53, 0, 0, 0, 4]);
}

export function queryMessage(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x51; // 'Q'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function closeStatementMessage(name: string): Buffer {
  const body = Buffer.from(`S${name}\0`, 'utf8');
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x43; // 'C'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/**
 * Whether a simple Query starts a COPY ... FROM STDIN. PGlite reads a COPY's data from the
 * same input as the statement and terminates (exit 1, the whole database) when it finds
 * none, so the server must collect the data before running the statement.
 */
export function copyFromStdin(query: Buffer): { binary: boolean } | null {
  const sql = query.toString('utf8', 5, query.length - 1).replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '');
  if (!/^COPY\s[\s\S]*?\sFROM\s+STDIN\b/i.test(sql)) return null;
  return { binary: /\bBINARY\b/i.test(sql) };
}

/** CopyInResponse with no column formats, which drivers do not read; the real one is dropped later. */
export function copyInResponse(binary: boolean): Buffer {
  return Buffer.from([0x47, 0, 0, 0, 7, binary ? 1 : 0, 0, 0]);
}

/** The reply without its first CopyInResponse (already sent to the client). */
export function withoutCopyInResponse(reply: Uint8Array): Uint8Array {
  for (let at = 0; at + 5 <= reply.length; ) {
    const len = (reply[at + 1] << 24) | (reply[at + 2] << 16) | (reply[at + 3] << 8) | reply[at + 4];
    if (reply[at] === 0x47 /* 'G' */)
      return Buffer.concat([reply.subarray(0, at), reply.subarray(at + 1 + len)]);
    at += 1 + len;
  }
  return reply;
}

/**
 * The `-c name=value` / `--name=value` settings of a StartupMessage's `options` parameter
 * (libpq's `options`, node-postgres' `options`), which PGlite ignores: the server applies
 * them itself whenever the connection takes its turn on the backend.
 */
export function startupSettings(startup: Buffer): Map<string, string> {
  const params = startup.toString('utf8', 8, startup.length - 1).split('\0');
  const settings = new Map<string, string>();
  for (let i = 0; i + 1 < params.length; i += 2) {
    if (params[i] !== 'options') continue;
    // libpq escapes a space inside a value as "\ ".
    const words = params[i + 1].match(/(?:\\.|\S)+/g)?.map((w) => w.replace(/\\(.)/g, '$1')) ?? [];
    for (let w = 0; w < words.length; w++) {
      let setting: string | undefined;
      if (words[w] === '-c') setting = words[++w];
      else if (words[w].startsWith('-c')) setting = words[w].slice(2);
      else if (words[w].startsWith('--')) setting = words[w].slice(2);
      const eq = setting?.indexOf('=') ?? -1;
      if (setting && eq > 0) settings.set(setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1));
    }
  }
  return settings;
}

/** SET/RESET statements that turn the `from` settings into the `to` ones. */
export function settingsChange(from: Map<string, string>, to: Map<string, string>): string[] {
  const ident = (n: string) => `"${n.replace(/"/g, '""')}"`;
  const out: string[] = [];
  for (const name of from.keys()) if (!to.has(name)) out.push(`RESET ${ident(name)}`);
  for (const [name, value] of to)
    if (from.get(name) !== value) out.push(`SET ${ident(name)} TO '${value.replace(/'/g, "''")}'`);
  return out;
}

/** Whether a backend reply holds an ErrorResponse. */
export function replyHasError(reply: Uint8Array): boolean {
  for (let at = 0; at + 5 <= reply.length; ) {
    if (reply[at] === 0x45 /* 'E' */) return true;
    at += 1 + ((reply[at + 1] << 24) | (reply[at + 2] << 16) | (reply[at + 3] << 8) | reply[at + 4]);
  }
  return false;
}
