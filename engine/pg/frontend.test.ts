import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from 'pg-protocol';
import {
  copyFromStdin,
  endingReadyStatus,
  FrameReader,
  namespaceStatement,
  ProtocolViolation,
  settingsChange,
  startupSettings,
  withoutCopyInResponse,
} from './frontend.js';

const startup = serialize.startup({ user: 'postgres', database: 'postgres' });
const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

describe('FrameReader', () => {
  it('answers the startup phase, then reassembles typed messages split anywhere', () => {
    const parse = serialize.parse({ name: 'q', text: 'select $1::int' });
    const sync = serialize.sync();
    const all = Buffer.concat([sslRequest, startup, parse, sync]);
    for (let cut = 1; cut < all.length; cut++) {
      const r = new FrameReader();
      const frames = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => (f.kind === 'message' ? `${f.type}:${f.bytes.length}` : f.kind)),
        ['encryption-request', 'startup', `P:${parse.length}`, 'S:5'],
        `cut at ${cut}`,
      );
    }
  });

  it('refuses a length prefix that cannot be a message', () => {
    const r = new FrameReader();
    r.push(startup);
    assert.throws(() => r.push(Buffer.from([0x51, 0, 0, 0, 2])), ProtocolViolation);
    assert.throws(() => new FrameReader().push(Buffer.from([0, 0, 0, 8, 0, 2, 0, 0])), ProtocolViolation);
  });
});

describe('namespaceStatement', () => {
  it('prefixes named statements in Parse, Bind, Describe and Close, and says what it created or closed', () => {
    const parse = namespaceStatement(
      'P',
      serialize.parse({ name: 'q', text: 'select 1', types: [23] }),
      '7/',
    );
    assert.equal(parse.prepared, '7/q');
    assert.deepEqual(parse.bytes, serialize.parse({ name: '7/q', text: 'select 1', types: [23] }));

    const bind = namespaceStatement(
      'B',
      serialize.bind({ portal: 'p1', statement: 'q', values: ['x'] }),
      '7/',
    );
    assert.deepEqual(bind.bytes, serialize.bind({ portal: 'p1', statement: '7/q', values: ['x'] }));

    const describe = namespaceStatement('D', serialize.describe({ type: 'S', name: 'q' }), '7/');
    assert.deepEqual(describe.bytes, serialize.describe({ type: 'S', name: '7/q' }));

    const close = namespaceStatement('C', serialize.close({ type: 'S', name: 'q' }), '7/');
    assert.equal(close.closed, '7/q');
    assert.deepEqual(close.bytes, serialize.close({ type: 'S', name: '7/q' }));
  });

  it('leaves the unnamed statement, portals and other messages untouched', () => {
    for (const [type, msg] of [
      ['P', serialize.parse({ text: 'select 1' })],
      ['B', serialize.bind({ portal: 'p1' })],
      ['D', serialize.describe({ type: 'P', name: 'p1' })],
      ['C', serialize.close({ type: 'P', name: 'p1' })],
      ['Q', serialize.query('select 1')],
    ] as const) {
      const out = namespaceStatement(type, msg, '7/');
      assert.equal(out.bytes, msg, type);
      assert.equal(out.prepared, undefined);
    }
  });
});

describe('endingReadyStatus', () => {
  const ready = (s: string) => Buffer.from([0x5a, 0, 0, 0, 5, s.charCodeAt(0)]);
  const commandComplete = Buffer.from([0x43, 0, 0, 0, 13, ...Buffer.from('SELECT 1\0')]);
  it('reads the status of a final ReadyForQuery only', () => {
    assert.equal(endingReadyStatus(Buffer.concat([commandComplete, ready('I')])), 'I');
    assert.equal(endingReadyStatus(Buffer.concat([commandComplete, ready('T')])), 'T');
    assert.equal(endingReadyStatus(ready('E')), 'E');
    assert.equal(endingReadyStatus(Buffer.concat([ready('I'), commandComplete])), null);
    assert.equal(endingReadyStatus(Buffer.alloc(0)), null);
    // A DataRow whose bytes end like a ReadyForQuery is not one.
    const row = Buffer.from([0x44, 0, 0, 0, 14, 0, 1, 0, 0, 0, 4, 0x5a, 0, 0, 0x49]);
    assert.equal(endingReadyStatus(row), null);
  });
});

describe('COPY FROM STDIN', () => {
  it('recognises it after comments and whitespace, in text or binary, and nothing else', () => {
    assert.deepEqual(copyFromStdin(serialize.query('COPY t (a, b) FROM STDIN')), { binary: false });
    assert.deepEqual(
      copyFromStdin(serialize.query('-- stage\n /* x */ copy t from stdin with (format binary)')),
      {
        binary: true,
      },
    );
    assert.equal(copyFromStdin(serialize.query('COPY t TO STDOUT')), null);
    assert.equal(copyFromStdin(serialize.query("SELECT 'COPY t FROM STDIN'")), null);
    assert.equal(copyFromStdin(serialize.query("COPY t FROM '/tmp/file'")), null);
  });

  it('drops the first CopyInResponse of a reply and keeps the rest', () => {
    const g = Buffer.from([0x47, 0, 0, 0, 9, 0, 0, 1, 0, 0]);
    const complete = Buffer.from([0x43, 0, 0, 0, 11, ...Buffer.from('COPY 2\0')]);
    const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
    assert.deepEqual(
      Buffer.from(withoutCopyInResponse(Buffer.concat([g, complete, ready]))),
      Buffer.concat([complete, ready]),
    );
    assert.deepEqual(
      Buffer.from(withoutCopyInResponse(Buffer.concat([complete, ready]))),
      Buffer.concat([complete, ready]),
    );
  });
});

describe('startup options', () => {
  it('reads -c and -- settings, with libpq escaped spaces, and ignores the other parameters', () => {
    const msg = serialize.startup({
      user: 'postgres',
      options: '-c search_path=sluice_a,public -cstatement_timeout=5s --application-name=my\\ app',
    });
    assert.deepEqual(
      [...startupSettings(msg)],
      [
        ['search_path', 'sluice_a,public'],
        ['statement_timeout', '5s'],
        ['application_name', 'my app'],
      ],
    );
    assert.deepEqual([...startupSettings(serialize.startup({ user: 'postgres' }))], []);
  });

  it('turns one connection’s settings into the next one’s with SET and RESET', () => {
    const a = new Map([
      ['search_path', 'a'],
      ['work_mem', '64MB'],
    ]);
    const b = new Map([
      ['search_path', "o'b"],
      ['work_mem', '64MB'],
    ]);
    assert.deepEqual(settingsChange(a, b), [`SET "search_path" TO 'o''b'`]);
    assert.deepEqual(settingsChange(b, new Map()), ['RESET "search_path"', 'RESET "work_mem"']);
    assert.deepEqual(settingsChange(a, a), []);
  });
});
