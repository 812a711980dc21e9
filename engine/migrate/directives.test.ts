import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Capabilities, parseScript, renderScript } from './directives.js';
import { MigrationError } from './errors.js';

const plain: Capabilities = { timescaledb: null };
const ts212: Capabilities = { timescaledb: '2.12.1' };
const ts214: Capabilities = { timescaledb: '2.14.2' };

const hypertable = [
  'CREATE TABLE readings (at timestamptz NOT NULL, v double precision);',
  '-- sluice:if timescaledb >= 2.13',
  "SELECT create_hypertable('readings', by_range('at', INTERVAL '1 day'));",
  '-- sluice:elif timescaledb',
  "SELECT create_hypertable('readings', 'at', chunk_time_interval => INTERVAL '1 day');",
  '-- sluice:else',
  'CREATE INDEX readings_at ON readings (at);',
  '-- sluice:end',
  'SELECT 1;',
].join('\n');

describe('migration markers', () => {
  it('renders the plain branch without TimescaleDB, keeping every line in place', () => {
    const sql = renderScript(parseScript(hypertable, '0001_x.sql'), plain);
    assert.deepEqual(sql.split('\n'), [
      'CREATE TABLE readings (at timestamptz NOT NULL, v double precision);',
      '',
      '',
      '',
      '',
      '',
      'CREATE INDEX readings_at ON readings (at);',
      '',
      'SELECT 1;',
    ]);
  });

  it('picks the first TimescaleDB branch whose version condition holds', () => {
    const script = parseScript(hypertable, '0001_x.sql');
    assert.equal(
      renderScript(script, ts214).split('\n')[2],
      "SELECT create_hypertable('readings', by_range('at', INTERVAL '1 day'));",
    );
    assert.deepEqual(renderScript(script, ts214).split('\n').slice(3, 8), ['', '', '', '', '']);
    assert.deepEqual(renderScript(script, ts212).split('\n').slice(1, 8), [
      '',
      '',
      '',
      "SELECT create_hypertable('readings', 'at', chunk_time_interval => INTERVAL '1 day');",
      '',
      '',
      '',
    ]);
  });

  it('compares versions numerically, ignoring suffixes, for every operator', () => {
    const sql = (cond: string, version: string) =>
      renderScript(parseScript(`-- sluice:if ${cond}\nX\n-- sluice:end`, 'f.sql'), {
        timescaledb: version,
      }).split('\n')[1];
    assert.equal(sql('timescaledb >= 2.13', '2.13.0'), 'X');
    assert.equal(sql('timescaledb >= 2.13', '2.9.9'), ''); // 9 < 13, not '9' > '1'
    assert.equal(sql('timescaledb > 2.13', '2.13.0'), '');
    assert.equal(sql('timescaledb > 2.13', '2.13.1-dev'), 'X');
    assert.equal(sql('timescaledb < 2.13', '2.12.99'), 'X');
    assert.equal(sql('timescaledb <= 2', '2.0.0'), 'X');
    assert.equal(sql('timescaledb = 2.14.2', '2.14.2'), 'X');
    assert.equal(sql('!timescaledb', '2.14.2'), '');
  });

  it('takes a negated branch, and no branch at all when none holds and there is no else', () => {
    const script = parseScript(
      '-- sluice:if !timescaledb\nA\n-- sluice:end\n-- sluice:if timescaledb\nB\n-- sluice:end',
      'f.sql',
    );
    assert.equal(renderScript(script, plain), '\nA\n\n\n\n');
    assert.equal(renderScript(script, ts214), '\n\n\n\nB\n');
  });

  it('reads the no-transaction marker', () => {
    assert.equal(parseScript('SELECT 1;', 'f.sql').transactional, true);
    assert.equal(parseScript('-- sluice:no-transaction\nSELECT 1;', 'f.sql').transactional, false);
    assert.equal(parseScript('  --sluice:no-transaction  \nSELECT 1;', 'f.sql').transactional, false);
  });

  it('leaves ordinary comments that mention sluice alone', () => {
    const sql = '-- written for sluice: if you change it, add a migration\nSELECT 1;';
    assert.equal(renderScript(parseScript(sql, 'f.sql'), plain), sql);
  });

  for (const [name, text, message] of [
    [
      'nested if',
      '-- sluice:if timescaledb\n-- sluice:if !timescaledb\n-- sluice:end\n-- sluice:end',
      /line 2: .*do not nest/,
    ],
    ['unclosed if', 'SELECT 1;\n-- sluice:if timescaledb\nSELECT 2;', /line 2: sluice:if without sluice:end/],
    ['else without if', '-- sluice:else', /line 1: sluice:else without sluice:if/],
    ['end without if', 'SELECT 1;\n-- sluice:end', /line 2: sluice:end without sluice:if/],
    [
      'elif after else',
      '-- sluice:if timescaledb\n-- sluice:else\n-- sluice:elif timescaledb\n-- sluice:end',
      /line 3: .*after sluice:else/,
    ],
    ['typo in a marker', '-- sluice:iff timescaledb', /unknown marker "sluice:iff"/],
    ['unknown capability', '-- sluice:if postgis\n-- sluice:end', /unknown capability "postgis"/],
    ['unreadable condition', '-- sluice:if timescaledb >= two\n-- sluice:end', /cannot read condition/],
    [
      'no-transaction inside if',
      '-- sluice:if timescaledb\n-- sluice:no-transaction\n-- sluice:end',
      /whole file/,
    ],
  ] as const) {
    it(`refuses ${name}, naming the file and line`, () => {
      assert.throws(
        () => parseScript(text, '0007_bad.sql'),
        (err: unknown) =>
          err instanceof MigrationError &&
          err.code === 'SLUICE_MIGRATION_INVALID' &&
          err.file === '0007_bad.sql' &&
          err.message.startsWith('0007_bad.sql line ') &&
          message.test(err.message),
      );
    });
  }
});
