import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { Connection } from './connection.js';

const silent = pino({ level: 'silent' });

/** A real loopback socket pair; the server side is wrapped in a Connection. */
async function pair(
  onFrame: (f: Buffer) => void,
): Promise<{ client: Socket; server: Server; closed: Promise<void> }> {
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((r) => {
    closedResolve = r;
  });
  const server = createServer((s) => {
    // Copy: frames may be views into a buffer the next frame reuses.
    new Connection(s, 1 << 20, silent, (frame) => onFrame(Buffer.from(frame)));
    s.on('close', () => closedResolve());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once('connect', () => r()));
  return { client, server, closed };
}

function framed(payloads: Buffer[]): Buffer {
  return Buffer.concat(
    payloads.flatMap((p) => {
      const size = Buffer.alloc(4);
      size.writeInt32BE(p.length);
      return [size, p];
    }),
  );
}

describe('Connection framing', () => {
  it('property: frames arrive whole and in order however the stream is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 20 }),
        async (frames, cuts) => {
          const expected = frames.map((f) => Buffer.from(f));
          const got: Buffer[] = [];
          let done: () => void = () => {};
          const all = new Promise<void>((r) => {
            done = r;
          });
          const { client, server } = await pair((f) => {
            got.push(f);
            if (got.length === expected.length) done();
          });
          const bytes = framed(expected);
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length];
            client.write(bytes.subarray(at, at + n));
            at += n;
            // Let some pieces arrive as separate chunks.
            if (i % 3 === 0) await new Promise((r) => setImmediate(r));
          }
          await all;
          client.destroy();
          server.close();
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('closes on a size prefix beyond the limit without waiting for the body', async () => {
    const frames: Buffer[] = [];
    const { client, server, closed } = await pair((f) => frames.push(f));
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE((1 << 20) + 1);
    client.write(prefix);
    await closed;
    client.destroy();
    server.close();
    assert.equal(frames.length, 0);
  });
});
