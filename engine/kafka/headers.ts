import type { IHeaders } from 'kafkajs';

/**
 * kafkajs headers as one Buffer per name: the first value of a repeated header, strings as
 * UTF-8 bytes, absent values left out.
 */
export function toBufferHeaders(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  if (h === undefined) return out;
  // for-in, not Object.entries: this runs for every consumed record, and most have no headers.
  for (const k in h) {
    const v = h[k];
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one : Buffer.from(String(one));
  }
  return out;
}
