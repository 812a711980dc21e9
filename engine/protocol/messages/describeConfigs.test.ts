import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiKey, supportedVersions } from '../apiKeys.js';
import {
  type DescribeConfigsResponse,
  decodeDescribeConfigsRequest,
  encodeDescribeConfigsResponse,
} from './describeConfigs.js';
import {
  assertGarbageIsProtocolError,
  assertPrefixesThrow,
  encodeBody,
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  kafkajsVersions,
  range,
  viaKafkajs,
} from './harness.test.js';

const { min, max } = supportedVersions[ApiKey.DescribeConfigs];
const versions = range(min, max);

test('kafkajs implements every served DescribeConfigs version', () => {
  assert.deepEqual(
    versions.filter((v) => !kafkajsVersions('describeConfigs').includes(v)),
    [],
  );
});

for (const version of versions) {
  test(`DescribeConfigs v${version} request encoded by kafkajs`, async () => {
    const req = kafkajsRequest(
      'describeConfigs',
      version,
    )({
      includeSynonyms: true,
      resources: [
        { type: 2, name: 'orders', configNames: ['cleanup.policy', 'retention.ms'] },
        { type: 4, name: '1' }, // kafkajs writes no config names as null: all of them
      ],
    });
    assert.deepEqual(await viaKafkajs(decodeDescribeConfigsRequest, req), {
      resources: [
        { resourceType: 2, resourceName: 'orders', configurationKeys: ['cleanup.policy', 'retention.ms'] },
        { resourceType: 4, resourceName: '1', configurationKeys: null },
      ],
      includeSynonyms: version >= 1,
    });
    assertPrefixesThrow(decodeDescribeConfigsRequest, version, await kafkajsRequestBody(req));
  });
}

const response: DescribeConfigsResponse = {
  throttleTimeMs: 17,
  results: [
    {
      errorCode: 0,
      errorMessage: null,
      resourceType: 2,
      resourceName: 'orders',
      configs: [
        {
          name: 'cleanup.policy',
          value: 'compact',
          readOnly: false,
          isDefault: false,
          configSource: 1,
          isSensitive: false,
          synonyms: [
            { name: 'cleanup.policy', value: 'compact', source: 1 },
            { name: 'log.cleanup.policy', value: 'delete', source: 5 },
          ],
        },
        {
          name: 'retention.ms',
          value: '604800000',
          readOnly: false,
          isDefault: true,
          configSource: 5,
          isSensitive: false,
          synonyms: [],
        },
        {
          name: 'sasl.jaas.config',
          value: null,
          readOnly: true,
          isDefault: false,
          configSource: 4,
          isSensitive: true,
          synonyms: [],
        },
      ],
    },
  ],
};

function kafkajsView(version: number, res: DescribeConfigsResponse): unknown {
  const resources = res.results.map((r) => ({
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    resourceType: r.resourceType,
    resourceName: r.resourceName,
    configEntries: r.configs.map((c) => {
      const entry = {
        configName: c.name,
        configValue: c.value,
        readOnly: c.readOnly,
        isDefault: version === 0 ? c.isDefault : c.configSource === 5,
        // v0 has no source: kafkajs derives one from isDefault and the resource type.
        configSource: version === 0 ? (c.isDefault ? 5 : r.resourceType === 2 ? 1 : 4) : c.configSource,
        isSensitive: c.isSensitive,
      };
      if (version === 0) return entry;
      const configSynonyms = c.synonyms.map((s) => ({
        configName: s.name,
        configValue: s.value,
        configSource: s.source,
      }));
      return { ...entry, configSynonyms };
    }),
  }));
  return { throttleTime: res.throttleTimeMs, resources };
}

for (const version of versions) {
  test(`DescribeConfigs v${version} response decoded by kafkajs`, async () => {
    const res = kafkajsResponse('describeConfigs', version);
    assert.deepEqual(
      await kafkajsReads(res, encodeBody(encodeDescribeConfigsResponse, version, response)),
      kafkajsView(version, response),
    );
    const failed: DescribeConfigsResponse = {
      throttleTimeMs: 0,
      results: [
        { errorCode: 3, errorMessage: 'no such topic', resourceType: 2, resourceName: 'x', configs: [] },
      ],
    };
    await assert.rejects(kafkajsReads(res, encodeBody(encodeDescribeConfigsResponse, version, failed)), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
    });
  });
}

test('DescribeConfigs: random bytes decode or fail as ProtocolError', () => {
  assertGarbageIsProtocolError(decodeDescribeConfigsRequest, versions);
});
