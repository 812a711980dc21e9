import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// DescribeConfigs (api key 32), v0-1. Field names follow DescribeConfigsRequest.json / DescribeConfigsResponse.json.

export interface DescribeConfigsRequest {
  resources: DescribeConfigsResource[];
  /** v1+; false before. */
  includeSynonyms: boolean;
}

export interface DescribeConfigsResource {
  /** 2 = topic, 4 = broker, 8 = broker logger. */
  resourceType: number;
  resourceName: string;
  /** null = every config of the resource. */
  configurationKeys: string[] | null;
}

export interface DescribeConfigsResponse {
  throttleTimeMs: number;
  results: DescribeConfigsResult[];
}

export interface DescribeConfigsResult {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
  configs: DescribeConfigsResourceResult[];
}

export interface DescribeConfigsResourceResult {
  name: string;
  value: string | null;
  readOnly: boolean;
  /** v0 only; v1+ says the same through configSource (5 = DEFAULT_CONFIG). */
  isDefault: boolean;
  /** v1+; -1 = unknown. */
  configSource: number;
  isSensitive: boolean;
  /** v1+; empty unless the request asked for synonyms. */
  synonyms: DescribeConfigsSynonym[];
}

export interface DescribeConfigsSynonym {
  name: string;
  value: string | null;
  source: number;
}

export function decodeDescribeConfigsRequest(r: Reader, version: number): DescribeConfigsRequest {
  const resources = r.array((r) => ({
    resourceType: r.int8(),
    resourceName: r.string(),
    configurationKeys: r.nullableArray((r) => r.string()),
  }));
  const includeSynonyms = version >= 1 ? r.boolean() : false;
  return { resources, includeSynonyms };
}

export function encodeDescribeConfigsResponse(
  w: Writer,
  version: number,
  res: DescribeConfigsResponse,
): void {
  w.int32(res.throttleTimeMs);
  w.array(res.results, (w, g) => {
    w.int16(g.errorCode).nullableString(g.errorMessage).int8(g.resourceType).string(g.resourceName);
    w.array(g.configs, (w, c) => {
      w.string(c.name).nullableString(c.value).boolean(c.readOnly);
      if (version === 0) w.boolean(c.isDefault);
      else w.int8(c.configSource);
      w.boolean(c.isSensitive);
      if (version >= 1)
        w.array(c.synonyms, (w, s) => w.string(s.name).nullableString(s.value).int8(s.source));
    });
  });
}
