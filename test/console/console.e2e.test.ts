import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadCatalogue } from '../../engine/catalogue/index.js';
import { sluice as runSluice } from '../helpers/cli.js';
import { withPlatform } from '../helpers/platform.js';

/** Runs `sluice <args>` as a user would, feeding stdin. */
const sluice = (args: string[], stdin = '') => runSluice(args, { stdin });

describe('sluice console tools', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let conn: string[];
  before(async () => {
    platform = await withPlatform();
    conn = ['--bootstrap-server', platform.bootstrap, '--schema-registry', platform.registryUrl];
  });
  after(() => platform.stop());

  it('topics list --catalogue prints one topic a line, name first', async () => {
    const cat = loadCatalogue(new URL('../../schemas', import.meta.url).pathname);
    const { code, stdout } = await sluice(['topics', 'list', '--catalogue']);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split('\t')[0]),
      cat.topics.map((t) => t.name),
    );
    assert.match(
      lines.find((l) => l.startsWith('sensors.reading.recorded\t'))!,
      /partitions=12\tcleanup=delete/,
    );
  });

  it('topics create --catalogue creates every topic and registers every subject, idempotently', async () => {
    const first = await sluice(['topics', 'create', '--catalogue', ...conn]);
    assert.equal(first.code, 0, first.stderr);
    const second = await sluice(['topics', 'create', '--catalogue', ...conn]);
    assert.equal(second.code, 0, second.stderr);
    const status = (out: string) => out.split('\n').filter((l) => /\t(created|exists)$/.test(l));
    assert.ok(status(first.stdout).every((l) => l.endsWith('\tcreated')));
    assert.ok(status(second.stdout).every((l) => l.endsWith('\texists')));
    const ids = (out: string) => out.split('\n').filter((l) => l.includes('\tschema id '));
    assert.deepEqual(ids(second.stdout), ids(first.stdout));
    const listed = await sluice(['topics', 'list', ...conn]);
    assert.ok(listed.stdout.split('\n').includes('sensors.reading.recorded'));
  });

  it('produce reports bad lines with their number and field, produces the rest; consume prints them', async () => {
    const input = [
      '{"deviceId":"dev-1","metric":"temp","value":21.5,"occurredAt":"2026-11-21T10:00:00Z"}',
      '{"deviceId":"dev-2","metric":"temp","value":"hot","occurredAt":1}',
      'not json',
      '',
      '{"deviceId":"dev-3","metric":"hum","value":40,"unit":"%","occurredAt":1700000000000}',
      '{"metric":"hum","value":40,"occurredAt":1}',
    ].join('\n');
    const produced = await sluice(['produce', '--topic', 'sensors.reading.recorded', ...conn], input);
    assert.equal(produced.code, 1);
    const errors = produced.stderr.split('\n').filter((l) => l.startsWith('line '));
    assert.deepEqual(errors, [
      `line 2: field 'value': expected double, got string "hot"`,
      `line 3: invalid JSON: ${(() => {
        try {
          JSON.parse('not json');
        } catch (e) {
          return (e as Error).message;
        }
      })()}`,
      `line 6: field 'deviceId': is required and has no default`,
    ]);
    assert.match(produced.stderr, /produced 2 record\(s\) to sensors.reading.recorded; 3 line\(s\) rejected/);

    const consumed = await sluice([
      'consume',
      '--topic',
      'sensors.reading.recorded',
      '--from-beginning',
      '--max-messages',
      '2',
      '--print-headers',
      ...conn,
    ]);
    assert.equal(consumed.code, 0, consumed.stderr);
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(
      records.map((r) => [r.key, r.timestamp, r.value]),
      [
        [
          'dev-1',
          Date.parse('2026-11-21T10:00:00Z'),
          {
            deviceId: 'dev-1',
            metric: 'temp',
            value: 21.5,
            occurredAt: Date.parse('2026-11-21T10:00:00Z'),
            unit: null,
            quality: 'UNKNOWN',
            source: 'UNKNOWN',
            sequence: null,
            receivedAt: null,
            tags: {},
          },
        ],
        [
          'dev-3',
          1700000000000,
          {
            deviceId: 'dev-3',
            metric: 'hum',
            value: 40,
            occurredAt: 1700000000000,
            unit: '%',
            quality: 'UNKNOWN',
            source: 'UNKNOWN',
            sequence: null,
            receivedAt: null,
            tags: {},
          },
        ],
      ],
    );
    for (const r of records) {
      assert.equal(r.headers['sluice.event-type'], 'sluice.sensors.SensorReadingRecorded');
      assert.equal(r.headers['sluice.schema-subject'], 'sensors.reading.recorded-value');
      assert.equal(r.headers['sluice.schema-version'], '1');
      assert.match(r.headers['sluice.event-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
    }
  });

  it('exits 2 with usage on bad arguments', async () => {
    const res = await sluice(['produce']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /produce needs --topic/);
    assert.equal((await sluice(['frobnicate'])).code, 2);
  });
});
