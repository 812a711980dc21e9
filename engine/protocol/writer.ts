/**
 * Builds a response as a list of chunks. Small fields go into a growing scratch buffer;
 * large payloads (record batches read from disk) are appended by reference, so a Fetch
 * response is written with writev and never copied.
 */
export class Writer {
  private chunks: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private start = 0;
  private total = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.total + (this.pos - this.start);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flushScratch();
    this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2, 256));
    this.pos = 0;
    this.start = 0;
  }

  private flushScratch(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.total += this.pos - this.start;
      this.start = this.pos;
    }
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }
  boolean(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }
  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }
  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }
  int64(v: number | bigint): this {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }
  uvarint(v: number): this {
    this.ensure(5);
    v >>>= 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
    return this;
  }
  varint(v: number): this {
    return this.uvarint((v << 1) ^ (v >> 31));
  }
  varlong(v: number | bigint): this {
    this.ensure(10);
    const n = BigInt(v);
    let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
    while (z >= 0x80n) {
      this.buf[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.pos++] = Number(z);
    return this;
  }
  string(v: string): this {
    const len = Buffer.byteLength(v);
    this.ensure(2 + len);
    this.buf.writeInt16BE(len, this.pos);
    this.pos += 2;
    this.pos += this.buf.write(v, this.pos, 'utf8');
    return this;
  }
  nullableString(v: string | null | undefined): this {
    if (v == null) return this.int16(-1);
    return this.string(v);
  }
  /** int32 length then the bytes; large buffers are kept by reference. */
  bytes(v: Buffer | null | undefined): this {
    if (v == null) return this.int32(-1);
    this.int32(v.length);
    return this.raw(v);
  }
  /** int32 total length then several buffers back to back (whole record batches). */
  bytesList(parts: Buffer[]): this {
    let n = 0;
    for (const p of parts) n += p.length;
    this.int32(n);
    for (const p of parts) this.raw(p);
    return this;
  }
  raw(v: Buffer): this {
    if (v.length >= 1024) {
      this.flushScratch();
      this.chunks.push(v);
      this.total += v.length;
      return this;
    }
    this.ensure(v.length);
    v.copy(this.buf, this.pos);
    this.pos += v.length;
    return this;
  }
  array<T>(items: readonly T[] | null | undefined, item: (w: Writer, v: T) => void): this {
    if (items == null) return this.int32(-1);
    this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  /** The chunks, without a size prefix. */
  toChunks(): Buffer[] {
    this.flushScratch();
    return this.chunks;
  }
  toBuffer(): Buffer {
    const chunks = this.toChunks();
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.total);
  }
}
