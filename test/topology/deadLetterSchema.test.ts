import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalogue } from '../../engine/catalogue/index.js';
import { toDeadLetterValue } from '../../engine/topology/index.js';

describe('dead-letter values', () => {
  it("fit the catalogue's DeadLetterRecorded schema exactly, original bytes and headers included", () => {
    const type = loadCatalogue(new URL('../../schemas', import.meta.url).pathname).schemas.get(
      'sluice.platform.DeadLetterRecorded',
    )!.type;
    const error = Object.assign(new Error('magic byte 7, expected 0'), {
      name: 'DecodeError',
      code: 'SLUICE_CODEC_BAD_MAGIC',
    });
    const value = toDeadLetterValue(
      {
        kind: 'deserialization',
        position: { topic: 'sensors.reading.recorded', partition: 3, offset: '17' },
        raw: {
          key: Buffer.from('dev-1'),
          value: Buffer.from([7, 1, 2]),
          timestamp: 1000,
          headers: { h: Buffer.from('x') },
        },
        error,
      },
      'sensor-app',
      2000,
    );
    assert.deepEqual(
      type.isValid(value, { errorHook: (path) => assert.fail(`invalid at ${path.join('.')}`) }),
      true,
    );
    const back = type.fromBuffer(type.toBuffer(value)) as typeof value;
    assert.equal(back.stage, 'DECODE');
    assert.equal(back.errorCode, 'SLUICE_CODEC_BAD_MAGIC');
    assert.equal(back.sourceOffset, 17);
    assert.deepEqual(back.originalValue, Buffer.from([7, 1, 2]));
    assert.deepEqual(
      back.originalHeaders.map((h) => ({ ...h })),
      [{ key: 'h', value: Buffer.from('x') }],
    );
  });
});
