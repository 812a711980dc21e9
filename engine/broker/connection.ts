import type { Socket } from 'node:net';
import type { Logger } from 'pino';

const RX_INITIAL_BYTES = 64 * 1024;
const RX_KEEP_BYTES = 16 * 1024 * 1024;

/**
 * One client connection: length-prefixed framing in, responses out in request order.
 * Requests are dispatched as soon as they arrive (offsets are assigned in arrival order)
 * but answered strictly in order, as Kafka clients pipelining requests expect.
 *
 * A frame handed to `onFrame` may be a view into a buffer that the next frame overwrites:
 * handlers consume it synchronously and copy whatever they keep.
 */
export class Connection {
  private rx = Buffer.allocUnsafe(RX_INITIAL_BYTES);
  private rxLength = 0;
  private slots: { done: boolean; out: Buffer[] | null }[] = [];
  private closed = false;
  clientId: string | null = null;

  constructor(
    readonly socket: Socket,
    private readonly maxRequestBytes: number,
    private readonly log: Logger,
    private readonly onFrame: (frame: Buffer, conn: Connection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.fail('socket error', err));
    socket.on('close', () => {
      this.closed = true;
    });
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onData(chunk: Buffer): void {
    let off = 0;
    // Whole frames straight from the socket's chunk: no copy, and the chunk is never reused.
    if (this.rxLength === 0) {
      while (!this.closed && chunk.length - off >= 4) {
        const size = this.frameSize(chunk, off);
        if (size < 0 || chunk.length - off - 4 < size) break;
        this.onFrame(chunk.subarray(off + 4, off + 4 + size), this);
        off += 4 + size;
      }
      if (off === chunk.length || this.closed) return;
    }
    // A frame split across chunks is assembled in one per-connection buffer, reused across
    // frames, so large produce requests do not pile up socket chunks for the GC to move.
    this.receive(chunk, off);
    while (!this.closed && this.rxLength >= 4) {
      const size = this.frameSize(this.rx, 0);
      if (size < 0) return;
      if (this.rxLength < 4 + size) {
        this.reserveRx(4 + size);
        return;
      }
      this.onFrame(this.rx.subarray(4, 4 + size), this);
      this.rx.copyWithin(0, 4 + size, this.rxLength);
      this.rxLength -= 4 + size;
    }
    if (this.rxLength === 0 && this.rx.length > RX_KEEP_BYTES) this.rx = Buffer.allocUnsafe(RX_INITIAL_BYTES);
  }

  /** The frame's size, or -1 after closing the connection on an impossible one. */
  private frameSize(buf: Buffer, at: number): number {
    const size = buf.readInt32BE(at);
    // Refuse before buffering: a 2 GiB prefix must never become a 2 GiB allocation.
    if (size < 0 || size > this.maxRequestBytes) {
      this.fail(`request size ${size} outside [0, ${this.maxRequestBytes}]`);
      return -1;
    }
    return size;
  }

  private receive(chunk: Buffer, from: number): void {
    const n = chunk.length - from;
    this.reserveRx(this.rxLength + n);
    chunk.copy(this.rx, this.rxLength, from);
    this.rxLength += n;
  }

  private reserveRx(bytes: number): void {
    if (bytes <= this.rx.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(bytes, this.rx.length * 2));
    this.rx.copy(bigger, 0, 0, this.rxLength);
    this.rx = bigger;
  }

  /** Reserves the next response position; the returned function fills it (null = no response). */
  reserve(): (out: Buffer[] | null) => void {
    const slot = { done: false, out: null as Buffer[] | null };
    this.slots.push(slot);
    return (out) => {
      slot.done = true;
      slot.out = out;
      this.flush();
    };
  }

  private flush(): void {
    if (this.closed) return;
    let corked = false;
    while (this.slots.length > 0 && this.slots[0].done) {
      const { out } = this.slots.shift()!;
      if (!out) continue;
      if (!corked) {
        this.socket.cork();
        corked = true;
      }
      for (const b of out) this.socket.write(b);
    }
    if (corked) process.nextTick(() => this.socket.uncork());
  }

  /** Logs one line for the connection and closes it; other connections are untouched. */
  fail(reason: string, err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    const detail = err instanceof Error ? err.message : undefined;
    this.log.warn({ client: this.clientId, address: this.remote, reason, detail }, 'closing connection');
    this.socket.destroy();
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
