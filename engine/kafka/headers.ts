import type { IHeaders } from 'kafkajs';

/**
 * kafkajs headers as one Buffer per name: the first value of a repeated header, strings as
 * UTF-8 bytes, absent values left out.
 */
export function toBufferHeaders(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one : Buffer.from(String(one));
  }
  return out;
}
