import type avro from 'avsc';
import { type ParsedAvro, parseAvro } from './canonicalForm.js';
import { compatibilityErrors } from './compatibility.js';
import { RegistryError } from './errors.js';
import {
  COMPATIBILITY_LEVELS,
  type CompatibilityLevel,
  configOut,
  deleteSubjectOut,
  MODES,
  type Mode,
  modeOut,
  type OutRecord,
  schemaOut,
  tombstone,
} from './records.js';
import type { SchemaLog, WritePlan } from './schemaLog.js';
import type { RegistryState } from './state.js';

/**
 * Confluent Schema Registry semantics over the log-backed state: what each REST call reads,
 * what it refuses (with Confluent's error codes) and what it appends. Reads are served from
 * this instance's state; writes go through SchemaLog.write, which plans them against a state
 * caught up with the log.
 */

export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';
export const DEFAULT_MODE: Mode = 'READWRITE';

export interface SchemaView {
  subject: string;
  version: number;
  id: number;
  schema: string;
}

type Version = number | 'latest';

interface SchemaRequest {
  parsed: ParsedAvro;
  id?: number;
  version?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Confluent's VersionId: "latest", -1, or 1..2^31-1. */
export function parseVersion(raw: string): Version {
  if (raw === 'latest' || raw === '-1') return 'latest';
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) throw RegistryError.invalidVersion(raw);
  return n;
}

function optionalInt(body: Record<string, unknown>, field: 'id' | 'version'): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v)) throw RegistryError.invalidSchema(`The ${field} of a schema must be an integer`);
  return (v as number) < (field === 'id' ? 0 : 1) ? undefined : (v as number);
}

function checkSubject(subject: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (subject === '' || /[\u0000-\u001f\u007f]/.test(subject) || subject === '__GLOBAL') {
    throw RegistryError.invalidSubject(subject);
  }
}

export class SchemaRegistry {
  /** avsc types of stored schemas, by schema text. */
  private readonly types = new Map<string, avro.Type>();

  constructor(private readonly log: SchemaLog) {}

  private get state(): RegistryState {
    return this.log.state;
  }

  // ---------------------------------------------------------------- scope

  compatibilityInScope(subject: string | null): CompatibilityLevel {
    return (
      (subject === null ? undefined : this.state.config(subject)) ??
      this.state.config(null) ??
      DEFAULT_COMPATIBILITY
    );
  }

  /** Subject mode, else global; a global READONLY_OVERRIDE wins over subject modes. */
  modeInScope(subject: string | null): Mode {
    const global = this.state.mode(null);
    if (global === 'READONLY_OVERRIDE' || subject === null) return global ?? DEFAULT_MODE;
    return this.state.mode(subject) ?? global ?? DEFAULT_MODE;
  }

  private assertWritable(subject: string | null): void {
    const mode = this.modeInScope(subject);
    if (mode === 'READONLY' || mode === 'READONLY_OVERRIDE') {
      throw RegistryError.notPermitted(`Subject ${subject ?? ''} in context . is in read-only mode`);
    }
  }

  private typeOf(id: number): avro.Type {
    const text = this.state.schema(id)!.schema;
    let type = this.types.get(text);
    if (!type) {
      type = parseAvro(text).type;
      this.types.set(text, type);
    }
    return type;
  }

  private parseRequest(body: unknown): SchemaRequest {
    const b = isObject(body) ? body : {};
    const schemaType = b.schemaType === undefined || b.schemaType === null ? 'AVRO' : String(b.schemaType);
    if (schemaType.toUpperCase() !== 'AVRO') {
      const known = ['PROTOBUF', 'JSON'].includes(schemaType.toUpperCase());
      throw RegistryError.invalidSchema(
        known
          ? `Invalid schema type ${schemaType}: this registry supports only AVRO schemas`
          : `Invalid schema type ${schemaType}`,
      );
    }
    if (Array.isArray(b.references) && b.references.length > 0) {
      throw RegistryError.invalidSchema('Schema references are not supported by this registry');
    }
    if (typeof b.schema !== 'string' || b.schema.trim() === '')
      throw RegistryError.invalidSchema('Empty schema');
    return { parsed: parseAvro(b.schema), id: optionalInt(b, 'id'), version: optionalInt(b, 'version') };
  }

  private view(subject: string, version: number): SchemaView {
    const { id } = this.state.version(subject, version)!;
    return { subject, version, id, schema: this.state.schema(id)!.schema };
  }

  // ---------------------------------------------------------------- subjects and versions

  listSubjects(deleted: boolean): string[] {
    return this.state.subjectNames(deleted);
  }

  listVersions(subject: string, deleted: boolean): number[] {
    const versions = this.state.versions(subject, deleted);
    if (versions.length === 0) throw RegistryError.subjectNotFound(subject);
    return versions;
  }

  getVersion(subject: string, rawVersion: string, deleted: boolean): SchemaView {
    const v = parseVersion(rawVersion);
    const n = v === 'latest' ? this.state.versions(subject, deleted).at(-1) : v;
    const entry = n === undefined ? undefined : this.state.version(subject, n);
    if (n === undefined || !entry || (entry.deleted && !deleted)) {
      if (!this.state.hasSubject(subject, deleted)) throw RegistryError.subjectNotFound(subject);
      throw RegistryError.versionNotFound(v === 'latest' ? -1 : v);
    }
    return this.view(subject, n);
  }

  /** All live versions (or every version, with `deleted`) of subjects starting with `prefix`. */
  listSchemas(prefix: string, deleted: boolean, latestOnly: boolean): SchemaView[] {
    const out: SchemaView[] = [];
    for (const subject of this.state.subjectNames(deleted).filter((s) => s.startsWith(prefix))) {
      const versions = this.state.versions(subject, deleted);
      for (const v of latestOnly ? versions.slice(-1) : versions) out.push(this.view(subject, v));
    }
    return out;
  }

  /** POST /subjects/{subject}: the version of `subject` holding this schema. */
  lookup(subject: string, body: unknown, deleted: boolean): SchemaView {
    const { parsed } = this.parseRequest(body);
    const version = this.state.findVersion(subject, parsed.canonical, deleted);
    if (version === undefined) {
      if (!this.state.hasSubject(subject, deleted)) throw RegistryError.subjectNotFound(subject);
      throw RegistryError.schemaNotFound();
    }
    return this.view(subject, version);
  }

  /** POST /subjects/{subject}/versions. */
  register(subject: string, body: unknown): Promise<{ id: number }> {
    checkSubject(subject);
    const request = this.parseRequest(body);
    return this.log.write((state) => {
      const mode = this.modeInScope(subject);
      this.assertWritable(subject);
      if (request.id !== undefined && mode !== 'IMPORT') {
        throw RegistryError.notPermitted(`Subject ${subject} in context . is not in import mode`);
      }
      if (request.id === undefined && mode !== 'READWRITE') {
        throw RegistryError.notPermitted(`Subject ${subject} in context . is not in read-write mode`);
      }
      const nextVersion = (state.versions(subject, true).at(-1) ?? 0) + 1;
      return request.id === undefined
        ? this.planRegister(state, subject, request, nextVersion)
        : this.planImport(state, subject, request, request.id, nextVersion);
    });
  }

  private planRegister(
    state: RegistryState,
    subject: string,
    { parsed, version }: SchemaRequest,
    nextVersion: number,
  ): WritePlan<{ id: number }> {
    const existing = state.findVersion(subject, parsed.canonical);
    if (existing !== undefined) return { result: { id: state.version(subject, existing)!.id } };
    if (version !== undefined && version !== nextVersion) {
      throw RegistryError.invalidSchema('Version is not one more than previous version');
    }
    const previous = state
      .versions(subject)
      .map((v) => ({ version: v, type: this.typeOf(state.version(subject, v)!.id) }));
    const errors = compatibilityErrors(this.compatibilityInScope(subject), parsed.type, previous);
    if (errors.length > 0) throw RegistryError.incompatible(subject, errors);
    const known = state.idFor(parsed.canonical);
    const id = known ?? state.nextId();
    const schema = known === undefined ? parsed.text : state.schema(known)!.schema;
    // As Confluent does: older soft-deleted versions of the same schema are removed for good.
    const followUp = state
      .versions(subject, true)
      .filter((v) => state.version(subject, v)!.deleted && state.version(subject, v)!.id === id)
      .flatMap((v) => state.keysOf(subject, v).map(tombstone));
    return {
      result: { id },
      records: [schemaOut({ subject, version: nextVersion, id, schema, deleted: false })],
      followUp,
    };
  }

  /** IMPORT mode: the caller chooses the id (and possibly the version); no compatibility check. */
  private planImport(
    state: RegistryState,
    subject: string,
    { parsed, version }: SchemaRequest,
    id: number,
    nextVersion: number,
  ): WritePlan<{ id: number }> {
    const byId = state.schema(id);
    if (byId && byId.canonical !== parsed.canonical) {
      throw RegistryError.notPermitted(`Overwrite new schema with id ${id} in context . is not permitted.`);
    }
    const target = version ?? nextVersion;
    const at = state.version(subject, target);
    if (at) {
      if (at.id === id) return { result: { id } };
      throw RegistryError.notPermitted(
        `Overwrite of version ${target} of subject ${subject} (schema id ${at.id}) is not permitted.`,
      );
    }
    const schema = byId ? byId.schema : parsed.text;
    return { result: { id }, records: [schemaOut({ subject, version: target, id, schema, deleted: false })] };
  }

  /** CONFIG and MODE tombstones for a subject that is going away for good. */
  private settingsTombstones(state: RegistryState, subject: string): OutRecord[] {
    const out: OutRecord[] = [];
    if (state.config(subject) !== undefined) out.push(configOut(subject, null));
    if (state.mode(subject) !== undefined) out.push(modeOut(subject, null));
    return out;
  }

  /** DELETE /subjects/{subject}/versions/{version}: soft, or permanent once soft-deleted. */
  deleteVersion(subject: string, rawVersion: string, permanent: boolean): Promise<number> {
    const v = parseVersion(rawVersion);
    return this.log.write((state) => {
      this.assertWritable(subject);
      const n = v === 'latest' ? state.versions(subject, permanent).at(-1) : v;
      const entry = n === undefined ? undefined : state.version(subject, n);
      if (n === undefined || !entry) {
        if (!state.hasSubject(subject, true)) throw RegistryError.subjectNotFound(subject);
        throw RegistryError.versionNotFound(v === 'latest' ? -1 : v);
      }
      if (!permanent) {
        if (entry.deleted) throw RegistryError.versionSoftDeleted(subject, n);
        const schema = state.schema(entry.id)!.schema;
        return {
          result: n,
          records: [schemaOut({ subject, version: n, id: entry.id, schema, deleted: true })],
        };
      }
      if (!entry.deleted) throw RegistryError.versionNotSoftDeleted(subject, n);
      const records = state.keysOf(subject, n).map(tombstone);
      if (state.versions(subject, true).length === 1)
        records.push(...this.settingsTombstones(state, subject));
      return { result: n, records };
    });
  }

  /** DELETE /subjects/{subject}: the versions deleted. */
  deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.log.write((state) => {
      const all = state.versions(subject, true);
      if (all.length === 0) throw RegistryError.subjectNotFound(subject);
      const live = state.versions(subject);
      if (!permanent && live.length === 0) throw RegistryError.subjectSoftDeleted(subject);
      this.assertWritable(subject);
      if (!permanent) return { result: live, records: [deleteSubjectOut(subject, live.at(-1)!)] };
      if (live.length > 0) throw RegistryError.subjectNotSoftDeleted(subject);
      const records = [...state.keysOf(subject).map(tombstone), ...this.settingsTombstones(state, subject)];
      return { result: all, records };
    });
  }

  // ---------------------------------------------------------------- schemas by id

  /** The schema with this id; one catch-up with the log on a miss (another instance may have just written it). */
  async schemaById(
    id: number,
    subject?: string,
  ): Promise<{ subject?: string; version?: number; schema: string }> {
    let entry = this.state.schema(id);
    if (!entry) {
      await this.log.catchUp();
      entry = this.state.schema(id);
    }
    if (!entry) throw RegistryError.schemaNotFound(id);
    const use =
      subject === undefined ? undefined : this.state.usesOf(id, true).find((u) => u.subject === subject);
    return use
      ? { subject: use.subject, version: use.version, schema: entry.schema }
      : { schema: entry.schema };
  }

  async versionsOfId(id: number, deleted: boolean): Promise<{ subject: string; version: number }[]> {
    await this.schemaById(id);
    return this.state.usesOf(id, deleted);
  }

  // ---------------------------------------------------------------- compatibility

  /** POST /compatibility/subjects/{subject}/versions[/{version}]: against one version, or all live ones. */
  testCompatibility(
    subject: string,
    rawVersion: string | undefined,
    body: unknown,
    verbose: boolean,
  ): { is_compatible: boolean; messages?: string[] } {
    let against: number[];
    if (rawVersion === undefined) against = this.state.versions(subject);
    else {
      const v = parseVersion(rawVersion);
      const n = v === 'latest' ? this.state.versions(subject).at(-1) : v;
      const entry = n === undefined ? undefined : this.state.version(subject, n);
      if (v !== 'latest' && (!entry || entry.deleted)) throw RegistryError.versionNotFound(v);
      against = n === undefined ? [] : [n];
    }
    let parsed: ParsedAvro;
    try {
      parsed = this.parseRequest(body).parsed;
    } catch (err) {
      if (verbose && err instanceof RegistryError && err.errorCode === 42201) {
        return { is_compatible: false, messages: [err.message] };
      }
      throw err;
    }
    const previous = against.map((v) => ({
      version: v,
      type: this.typeOf(this.state.version(subject, v)!.id),
    }));
    const errors = compatibilityErrors(this.compatibilityInScope(subject), parsed.type, previous);
    return verbose
      ? { is_compatible: errors.length === 0, messages: errors }
      : { is_compatible: errors.length === 0 };
  }

  // ---------------------------------------------------------------- config

  getConfig(subject: string | null, defaultToGlobal: boolean): { compatibilityLevel: CompatibilityLevel } {
    if (subject === null) return { compatibilityLevel: this.state.config(null) ?? DEFAULT_COMPATIBILITY };
    const level =
      this.state.config(subject) ?? (defaultToGlobal ? this.compatibilityInScope(subject) : undefined);
    if (level === undefined) throw RegistryError.compatibilityNotConfigured(subject);
    return { compatibilityLevel: level };
  }

  setConfig(subject: string | null, body: unknown): Promise<{ compatibility: CompatibilityLevel }> {
    const raw = isObject(body) ? (body.compatibility ?? body.compatibilityLevel) : undefined;
    const level = (typeof raw === 'string' ? raw.toUpperCase() : '') as CompatibilityLevel;
    if (!COMPATIBILITY_LEVELS.includes(level)) throw RegistryError.invalidCompatibility();
    if (subject !== null) checkSubject(subject);
    return this.log.write(() => {
      this.assertWritable(subject);
      return { result: { compatibility: level }, records: [configOut(subject, level)] };
    });
  }

  deleteConfig(subject: string | null): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    return this.log.write((state) => {
      const previous = state.config(subject);
      if (subject !== null && previous === undefined) throw RegistryError.subjectNotFound(subject);
      this.assertWritable(subject);
      return {
        result: { compatibilityLevel: previous ?? DEFAULT_COMPATIBILITY },
        records: previous === undefined ? [] : [configOut(subject, null)],
      };
    });
  }

  // ---------------------------------------------------------------- mode

  getMode(subject: string | null, defaultToGlobal: boolean): { mode: Mode } {
    if (subject === null) return { mode: this.modeInScope(null) };
    const mode = this.state.mode(subject) ?? (defaultToGlobal ? this.modeInScope(subject) : undefined);
    if (mode === undefined) throw RegistryError.modeNotConfigured(subject);
    return { mode };
  }

  /** PUT /mode[/{subject}]; IMPORT needs an empty scope (soft-deleted leftovers are removed), unless forced. */
  setMode(subject: string | null, body: unknown, force: boolean): Promise<{ mode: Mode }> {
    const raw = isObject(body) ? body.mode : undefined;
    const mode = (typeof raw === 'string' ? raw.toUpperCase() : '') as Mode;
    if (!MODES.includes(mode)) throw RegistryError.invalidMode();
    if (subject !== null) checkSubject(subject);
    return this.log.write((state) => {
      const records: OutRecord[] = [];
      if (mode === 'IMPORT' && this.modeInScope(subject) !== 'IMPORT' && !force) {
        const scope = subject === null ? state.subjectNames(true) : [subject];
        if (scope.some((s) => state.hasSubject(s))) {
          throw RegistryError.notPermitted('Cannot import since found existing subjects');
        }
        for (const s of scope) records.push(...state.keysOf(s).map(tombstone));
      }
      records.push(modeOut(subject, mode));
      return { result: { mode }, records };
    });
  }

  deleteMode(subject: string | null): Promise<{ mode: Mode }> {
    return this.log.write((state) => {
      const previous = state.mode(subject);
      if (subject !== null && previous === undefined) throw RegistryError.subjectNotFound(subject);
      return {
        result: { mode: previous ?? DEFAULT_MODE },
        records: previous === undefined ? [] : [modeOut(subject, null)],
      };
    });
  }
}
