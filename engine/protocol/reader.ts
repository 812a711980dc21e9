import { ProtocolError } from './protocolError.js';

/**
 * Cursor over one request body. Every read checks bounds first, so a truncated or lying
 * frame becomes a ProtocolError instead of a RangeError deep inside Buffer.
 */
export class Reader {
  offset: number;

  constructor(
    readonly buf: Buffer,
    offset = 0,
  ) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number, what: string): number {
    if (n < 0 || this.offset + n > this.buf.length) {
      throw new ProtocolError(`truncated ${what}: need ${n} bytes at ${this.offset}, have ${this.remaining}`);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  int8(): number {
    return this.buf.readInt8(this.need(1, 'int8'));
  }
  boolean(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    return this.buf.readInt16BE(this.need(2, 'int16'));
  }
  int32(): number {
    return this.buf.readInt32BE(this.need(4, 'int32'));
  }
  uint32(): number {
    return this.buf.readUInt32BE(this.need(4, 'uint32'));
  }
  /** int64 as a JS number: offsets and timestamps stay far below 2^53. */
  int64(): number {
    return Number(this.buf.readBigInt64BE(this.need(8, 'int64')));
  }
  int64Big(): bigint {
    return this.buf.readBigInt64BE(this.need(8, 'int64'));
  }

  varint(): number {
    const v = this.uvarint();
    return (v >>> 1) ^ -(v & 1);
  }
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.buf[this.need(1, 'varint')];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw new ProtocolError('varint longer than 5 bytes');
  }
  varlong(): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.need(1, 'varlong')];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return Number((result >> 1n) ^ -(result & 1n));
      shift += 7n;
    }
    throw new ProtocolError('varlong longer than 10 bytes');
  }

  string(): string {
    const s = this.nullableString();
    if (s === null) throw new ProtocolError('null where a string is required');
    return s;
  }
  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const at = this.need(len, 'string');
    return this.buf.toString('utf8', at, at + len);
  }
  bytes(): Buffer {
    const b = this.nullableBytes();
    if (b === null) throw new ProtocolError('null where bytes are required');
    return b;
  }
  nullableBytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) return null;
    const at = this.need(len, 'bytes');
    return this.buf.subarray(at, at + len);
  }
  raw(n: number): Buffer {
    const at = this.need(n, 'raw bytes');
    return this.buf.subarray(at, at + n);
  }

  array<T>(item: (r: Reader) => T): T[] {
    const a = this.nullableArray(item);
    return a ?? [];
  }
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const len = this.int32();
    if (len < 0) return null;
    // Each element takes at least one byte: refuse counts the frame cannot hold.
    if (len > this.remaining) throw new ProtocolError(`array of ${len} items in ${this.remaining} bytes`);
    const out = new Array<T>(len);
    for (let i = 0; i < len; i++) out[i] = item(this);
    return out;
  }
}
