import { SluiceError } from '../errors.js';

/** Where a record came from, so an error names it; absent for values not read from Kafka. */
export interface RecordOrigin {
  topic?: string;
  partition?: number;
  offset?: string | number;
}

export type DecodeFailure =
  | 'bad-magic'
  | 'truncated'
  | 'unknown-schema'
  | 'invalid-body'
  | 'unresolvable'
  | 'registry-unavailable';

const decodeCodes: Record<DecodeFailure, string> = {
  'bad-magic': 'SLUICE_CODEC_BAD_MAGIC',
  truncated: 'SLUICE_CODEC_TRUNCATED',
  'unknown-schema': 'SLUICE_CODEC_UNKNOWN_SCHEMA_ID',
  'invalid-body': 'SLUICE_CODEC_INVALID_BODY',
  unresolvable: 'SLUICE_CODEC_INCOMPATIBLE_SCHEMA',
  'registry-unavailable': 'SLUICE_CODEC_REGISTRY_UNAVAILABLE',
};

function where(o: RecordOrigin): string {
  if (o.topic === undefined) return '';
  return ` (${o.topic}${o.partition === undefined ? '' : `-${o.partition}`}${o.offset === undefined ? '' : `@${o.offset}`})`;
}

/** A record that cannot be turned into a value; dead-letter paths read `reason` and the origin. */
export class DecodeError extends SluiceError {
  constructor(
    readonly reason: DecodeFailure,
    detail: string,
    readonly origin: RecordOrigin = {},
    readonly schemaId: number | null = null,
    cause?: unknown,
  ) {
    super(decodeCodes[reason], `cannot decode record${where(origin)}: ${detail}`, {
      retriable: reason === 'registry-unavailable',
      cause,
    });
  }
}

/** A value that does not fit its schema; `path` names the field at fault. */
export class EncodeError extends SluiceError {
  constructor(
    message: string,
    readonly path: string | null,
    cause?: unknown,
  ) {
    super('SLUICE_CODEC_INVALID_VALUE', message, { cause });
  }
}
