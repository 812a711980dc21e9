import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../observability/logger.js';
import {
  closeStatementMessage,
  copyFromStdin,
  copyInResponse,
  endingReadyStatus,
  type Frame,
  FrameReader,
  namespaceStatement,
  queryMessage,
  replyHasError,
  settingsChange,
  startupSettings,
  syncMessage,
  withoutCopyInResponse,
} from './frontend.js';

/**
 * Serves one PGlite backend to any number of PostgreSQL wire-protocol connections.
 *
 * PGlite is a single backend, so connections take turns. A connection owns the backend from
 * its first message until a reply ends in ReadyForQuery with status idle: a whole
 * Parse/Bind/Execute/Sync sequence, a COPY, or an explicit transaction runs with no other
 * connection's message in between. pglite-socket's PGLiteSocketServer (0.2.x) interleaves
 * connections per message outside explicit transactions, so a Bind could reach another
 * connection's unnamed statement, and named prepared statements collide across pooled
 * clients; this server fixes both (see frontend.ts) and is why it does not use it.
 *
 * COPY ... FROM STDIN (simple query) is collected whole, CopyInResponse answered here, and
 * run as one input, because PGlite cannot wait for data it has not been given (it exits).
 * Settings passed at connect time (`options=-c search_path=x`) are applied at each turn.
 *
 * Still shared, as in any single-session database: settings changed with SQL `SET`,
 * advisory locks, temporary tables, LISTEN. A connection that stays in a transaction blocks
 * the others until it commits, rolls back or disconnects (then it is rolled back).
 */
export class PgWireServer {
  private server: Server | null = null;
  private readonly sessions = new Set<Session>();
  /** Connections with work queued that wait for the backend, oldest first. */
  private readonly ready: Session[] = [];
  private owner: Session | null = null;
  /** The startup `options` settings the backend currently carries. */
  private applied = new Map<string, string>();
  private draining = false;
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly db: PGlite,
    private readonly log: Logger,
  ) {}

  listen(host: string, port: number): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err }, 'pg listener error'));
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Stops accepting, drops every connection and waits for the backend to be idle. */
  async close(): Promise<void> {
    this.closing = true;
    const server = this.server;
    this.server = null;
    for (const s of this.sessions) s.socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Each destroyed socket's 'close' rolls back what it held; wait for that before the caller closes PGlite.
    while (this.sessions.size > 0 || this.draining) await new Promise((r) => setTimeout(r, 5));
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const s: Session = {
      id: this.nextId++,
      socket,
      reader: new FrameReader(),
      queue: [],
      statements: new Set(),
      copyIn: null,
      settings: new Map(),
      open: true,
    };
    this.sessions.add(s);
    this.log.debug(
      { connection: s.id, remote: `${socket.remoteAddress}:${socket.remotePort}` },
      'pg connect',
    );
    socket.on('data', (chunk) => this.receive(s, chunk));
    socket.on('error', (err) => this.log.debug({ connection: s.id, err }, 'pg connection error'));
    socket.on('close', () => this.disconnect(s));
  }

  private receive(s: Session, chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = s.reader.push(chunk);
    } catch (err) {
      this.log.warn({ connection: s.id, err }, 'pg protocol violation; closing the connection');
      s.socket.destroy();
      return;
    }
    for (const f of frames) {
      if (f.kind === 'encryption-request') s.socket.write('N');
      else if (f.kind === 'cancel')
        s.socket.destroy(); // no backend process to signal
      else if (f.kind === 'startup') {
        s.settings = startupSettings(f.bytes);
        this.enqueue(s, { type: '\0', bytes: f.bytes });
      } else if (s.copyIn) this.collectCopy(s, f.type, f.bytes);
      else if (f.type === 'X')
        s.socket.end(); // Terminate: cleaned up on 'close'
      else if (f.type === 'Q' && copyFromStdin(f.bytes)) {
        s.copyIn = [f.bytes];
        s.socket.write(copyInResponse(copyFromStdin(f.bytes)!.binary));
      } else {
        const { bytes, prepared, closed } = namespaceStatement(f.type, f.bytes, `${s.id}/`);
        if (prepared) s.statements.add(prepared);
        if (closed) s.statements.delete(closed);
        this.enqueue(s, { type: f.type, bytes });
      }
    }
  }

  /** CopyData up to CopyDone or CopyFail, then the whole COPY runs as one unit. */
  private collectCopy(s: Session, type: string, bytes: Buffer): void {
    s.copyIn!.push(bytes);
    if (type === 'c' || type === 'f') {
      this.enqueue(s, { type: 'copy', bytes: Buffer.concat(s.copyIn!) });
      s.copyIn = null;
    }
  }

  private enqueue(s: Session, work: Work): void {
    s.queue.push(work);
    if (s !== this.owner && !this.ready.includes(s)) this.ready.push(s);
    this.drain();
  }

  /** A closed connection gives back what it held: its transaction and its prepared statements. */
  private disconnect(s: Session): void {
    if (!s.open) return;
    s.open = false;
    this.sessions.delete(s);
    s.queue.length = 0;
    s.copyIn = null;
    this.log.debug({ connection: s.id }, 'pg disconnect');
    if (s === this.owner || s.statements.size > 0)
      this.enqueue(s, { type: 'cleanup', bytes: Buffer.alloc(0) });
    else this.dequeueReady(s);
  }

  private dequeueReady(s: Session): void {
    const i = this.ready.indexOf(s);
    if (i >= 0) this.ready.splice(i, 1);
  }

  private next(): Session | null {
    if (this.owner) return this.owner.queue.length > 0 ? this.owner : null;
    const s = this.ready.shift() ?? null;
    this.owner = s;
    return s;
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      try {
        for (let s = this.next(); s; s = this.next()) await this.runUnit(s);
      } finally {
        this.draining = false;
      }
    })();
  }

  /**
   * Runs the owner's queued messages up to the next point where the client waits for a
   * reply, as one call into PGlite, then keeps or releases the backend depending on how
   * the reply ends.
   */
  private async runUnit(s: Session): Promise<void> {
    const first = s.queue.shift()!;
    let status: 'I' | 'T' | 'E' | null;
    try {
      if (first.type === 'cleanup') status = await this.cleanup(s);
      else {
        await this.applySettings(s);
        const unit = [first.bytes];
        let last = first.type;
        const alone = (type: string) => type === '\0' || type === 'copy' || type === 'cleanup';
        while (!alone(first.type) && !UNIT_END.has(last) && s.queue.length > 0 && !alone(s.queue[0].type)) {
          const w = s.queue.shift()!;
          unit.push(w.bytes);
          last = w.type;
        }
        let reply = await this.exec(unit.length === 1 ? unit[0] : Buffer.concat(unit));
        if (first.type === 'copy') reply = withoutCopyInResponse(reply);
        if (s.open && reply.length > 0 && !s.socket.write(reply)) await drained(s.socket);
        status = endingReadyStatus(reply);
      }
    } catch (err) {
      // PGlite itself failed (an SQL error is a reply, not a throw): drop the connection and
      // keep the backend until its 'close' runs the cleanup.
      this.log.error({ connection: s.id, err }, 'pg backend failure');
      s.socket.destroy();
      status = null;
    }
    if (status === 'I' || (!s.open && s.queue.length === 0)) {
      this.owner = null;
      // Yield to the others before running this connection's next unit.
      if (s.queue.length > 0) this.ready.push(s);
    }
  }

  /** Gives the backend this connection's startup settings (search_path ...) before its turn. */
  private async applySettings(s: Session): Promise<void> {
    const change = settingsChange(this.applied, s.settings);
    if (change.length === 0) return;
    const reply = await this.exec(queryMessage(change.join('; ')));
    if (replyHasError(reply)) this.log.warn({ connection: s.id, change }, 'pg startup options refused');
    this.applied = s.settings;
  }

  private async cleanup(s: Session): Promise<'I'> {
    // Sync ends a half-sent extended query; its ReadyForQuery says whether a transaction is open.
    let status = endingReadyStatus(await this.exec(syncMessage()));
    if (status === 'T' || status === 'E')
      status = endingReadyStatus(await this.exec(queryMessage('ROLLBACK')));
    if (s.statements.size > 0) {
      await this.exec(Buffer.concat([...[...s.statements].map(closeStatementMessage), syncMessage()]));
      s.statements.clear();
    }
    if (status !== 'I') this.log.warn({ connection: s.id, status }, 'pg backend not idle after cleanup');
    return 'I';
  }

  private exec(message: Buffer): Promise<Uint8Array> {
    return this.db.runExclusive(() => this.db.execProtocolRaw(new Uint8Array(message)));
  }
}

/** Messages after which the client waits for the backend's answer: Sync, Query, Flush. */
const UNIT_END = new Set(['S', 'Q', 'H']);

interface Work {
  /** The message tag, or '\0' (startup message), 'copy' (a whole COPY FROM STDIN), 'cleanup' (after disconnect). */
  type: string;
  bytes: Buffer;
}

interface Session {
  id: number;
  socket: Socket;
  reader: FrameReader;
  queue: Work[];
  /** Prepared statements (namespaced names) this connection created and has not closed. */
  statements: Set<string>;
  /** The COPY FROM STDIN being collected: its Query, then CopyData up to CopyDone or CopyFail. */
  copyIn: Buffer[] | null;
  /** `options` settings from the startup message, applied at each turn (PGlite ignores them). */
  settings: Map<string, string>;
  open: boolean;
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
