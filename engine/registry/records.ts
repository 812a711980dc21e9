import { randomUUID } from 'node:crypto';

/**
 * The `_schemas` topic's records, in Confluent's JSON shapes so the topic reads like a
 * Confluent registry's: keys `{"keytype":…,"subject":…,"version":…,"magic":…}`, values
 * `{"subject","version","id","schema","deleted"}` and so on.
 *
 * One departure: SCHEMA and DELETE_SUBJECT keys carry a `nonce`. Confluent has a single leader,
 * so the last value per key is the truth and compaction may keep only it. Without a leader two
 * instances can write the same (subject, version) key, and the log's *first* accepted record
 * wins; compaction would keep the loser. With a nonce every such record has its own key, and
 * compaction removes only what a writer explicitly tombstoned (see README.md).
 * CONFIG and MODE keep Confluent's shared keys: for them last-writer-wins is the semantics.
 */

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export const MODES = ['READWRITE', 'READONLY', 'READONLY_OVERRIDE', 'IMPORT'] as const;
export type Mode = (typeof MODES)[number];

export interface SchemaRecord {
  kind: 'schema';
  subject: string;
  version: number;
  id: number;
  schema: string;
  deleted: boolean;
}
/** Soft-deletes every version of `subject` up to `version`. */
export interface DeleteSubjectRecord {
  kind: 'deleteSubject';
  subject: string;
  version: number;
}
export interface ConfigRecord {
  kind: 'config';
  subject: string | null;
  compatibility: CompatibilityLevel | null;
}
export interface ModeRecord {
  kind: 'mode';
  subject: string | null;
  mode: Mode | null;
}
export interface NoopRecord {
  kind: 'noop';
}
export type LogRecord = SchemaRecord | DeleteSubjectRecord | ConfigRecord | ModeRecord | NoopRecord;

/** A record to produce: its key (exact bytes matter, compaction compares them) and value. */
export interface OutRecord {
  key: string;
  value: string | null;
  /** Set when the state machine may reject the record and the writer must learn its verdict. */
  verdict?: boolean;
}

const keyOf = (fields: Record<string, unknown>): string => JSON.stringify(fields);

export function schemaOut(r: Omit<SchemaRecord, 'kind'>): OutRecord {
  return {
    key: keyOf({ keytype: 'SCHEMA', subject: r.subject, version: r.version, magic: 1, nonce: randomUUID() }),
    value: JSON.stringify({
      subject: r.subject,
      version: r.version,
      id: r.id,
      schema: r.schema,
      deleted: r.deleted,
    }),
    verdict: true,
  };
}

export function deleteSubjectOut(subject: string, version: number): OutRecord {
  return {
    key: keyOf({ keytype: 'DELETE_SUBJECT', subject, magic: 0, nonce: randomUUID() }),
    value: JSON.stringify({ subject, version }),
  };
}

function configKey(subject: string | null): string {
  return subject === null
    ? keyOf({ keytype: 'CONFIG', magic: 0 })
    : keyOf({ keytype: 'CONFIG', subject, magic: 0 });
}

export function configOut(subject: string | null, compatibility: CompatibilityLevel | null): OutRecord {
  const value = compatibility === null ? null : JSON.stringify({ compatibilityLevel: compatibility });
  return { key: configKey(subject), value };
}

function modeKey(subject: string | null): string {
  return subject === null
    ? keyOf({ keytype: 'MODE', magic: 0 })
    : keyOf({ keytype: 'MODE', subject, magic: 0 });
}

export function modeOut(subject: string | null, mode: Mode | null): OutRecord {
  const value = mode === null ? null : JSON.stringify(subject === null ? { mode } : { subject, mode });
  return { key: modeKey(subject), value };
}

/** Confluent's NOOP marker: written to learn the log end (its offset) and read back. */
export const NOOP_KEY = keyOf({ keytype: 'NOOP', magic: 0 });

export function tombstone(key: string): OutRecord {
  return { key, value: null };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const subjectOf = (k: Record<string, unknown>): string | null =>
  typeof k.subject === 'string' ? k.subject : null;

/**
 * Decodes one record of the topic. `null` record means a tombstone for `key`; `undefined` means
 * the record is not one this registry understands (foreign keytypes, malformed JSON): ignored.
 */
export function decodeRecord(key: string, value: string | null): LogRecord | null | undefined {
  let k: unknown;
  try {
    k = JSON.parse(key);
  } catch {
    return undefined;
  }
  if (!isObject(k)) return undefined;
  if (k.keytype === 'NOOP') return { kind: 'noop' };
  if (value === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  switch (k.keytype) {
    case 'SCHEMA': {
      const ok =
        typeof v.subject === 'string' && isInt(v.version) && isInt(v.id) && typeof v.schema === 'string';
      if (!ok || (v.schemaType !== undefined && v.schemaType !== 'AVRO')) return undefined;
      return {
        kind: 'schema',
        subject: v.subject as string,
        version: v.version as number,
        id: v.id as number,
        schema: v.schema as string,
        deleted: v.deleted === true,
      };
    }
    case 'DELETE_SUBJECT':
      if (typeof v.subject !== 'string' || !isInt(v.version)) return undefined;
      return { kind: 'deleteSubject', subject: v.subject, version: v.version };
    case 'CONFIG': {
      const level = String(v.compatibilityLevel ?? v.compatibility ?? '').toUpperCase();
      if (!(COMPATIBILITY_LEVELS as readonly string[]).includes(level)) return undefined;
      return { kind: 'config', subject: subjectOf(k), compatibility: level as CompatibilityLevel };
    }
    case 'MODE': {
      const mode = String(v.mode ?? '').toUpperCase();
      if (!(MODES as readonly string[]).includes(mode)) return undefined;
      return { kind: 'mode', subject: subjectOf(k), mode: mode as Mode };
    }
    default:
      return undefined;
  }
}
