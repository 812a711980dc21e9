import type { CompatibilityLevel, LogRecord, Mode, SchemaRecord } from './records.js';

/**
 * The registry's state: a deterministic fold of the `_schemas` log, identical on every instance
 * that has read the same prefix of the log, and identical again after Kafka compacts it.
 *
 * Compaction keeps, for each key, the latest record (dropping it altogether if it is a
 * tombstone). So the state is defined as a fold over exactly those *surviving* records, in
 * log order. Records are applied incrementally as they arrive; when a record that shaped the
 * state is superseded or tombstoned, the fold is recomputed from the survivors — which is what
 * a fresh instance reading the compacted log computes.
 *
 * The schema rules (first accepted record wins):
 *  - a SCHEMA record creates (subject, version) if that version is free and its id is either
 *    unused or already names the same canonical schema; an identical repeat is accepted as a
 *    no-op; anything else is rejected (ignored by every instance);
 *  - a SCHEMA record with deleted=true soft-deletes the version it names if that version holds
 *    the same id; DELETE_SUBJECT soft-deletes every version up to the one it names;
 *  - CONFIG and MODE records are last-writer-wins per key, as in Confluent.
 */

export interface VersionEntry {
  id: number;
  deleted: boolean;
}

export interface SchemaEntry {
  /** The text the id was first registered with. */
  schema: string;
  canonical: string;
}

interface Survivor {
  offset: number;
  record: LogRecord;
  accepted: boolean;
}

/** A canonical form for a stored schema text, or undefined if it cannot be read. */
export type Canonicalize = (schema: string) => string | undefined;

export class RegistryState {
  /** Latest record per key, in log order (Map insertion order). */
  private readonly survivors = new Map<string, Survivor>();
  private readonly subjects = new Map<string, Map<number, VersionEntry>>();
  private readonly schemas = new Map<number, SchemaEntry>();
  private readonly idsByCanonical = new Map<string, number[]>();
  private readonly configs = new Map<string | null, CompatibilityLevel>();
  private readonly modes = new Map<string | null, Mode>();
  private readonly canonicalCache = new Map<string, string | undefined>();
  /** Highest id ever accepted by this instance; only a hint for allocating the next one. */
  private maxIdSeen = 0;

  constructor(private readonly canonicalize: Canonicalize) {}

  /**
   * Applies the record read at `offset` under `key` (`null` = tombstone). Returns whether the
   * record was accepted (always true for records the rules cannot reject).
   */
  apply(offset: number, key: string, record: LogRecord | null): boolean {
    const previous = this.survivors.get(key);
    if (previous) {
      this.survivors.delete(key);
      this.forget(previous);
    }
    if (record === null || record.kind === 'noop') return true;
    const survivor: Survivor = { offset, record, accepted: this.fold(record) };
    this.survivors.set(key, survivor);
    return survivor.accepted;
  }

  private shapesSchemas(s: Survivor): boolean {
    return (s.record.kind === 'schema' || s.record.kind === 'deleteSubject') && s.accepted;
  }

  /** Undoes a survivor that has been removed from the log. */
  private forget(s: Survivor): void {
    const r = s.record;
    if (r.kind === 'config' && this.configs.has(r.subject)) this.configs.delete(r.subject);
    else if (r.kind === 'mode' && this.modes.has(r.subject)) this.modes.delete(r.subject);
    else if (this.shapesSchemas(s)) this.recompute();
  }

  private recompute(): void {
    this.subjects.clear();
    this.schemas.clear();
    this.idsByCanonical.clear();
    for (const s of this.survivors.values()) {
      if (s.record.kind === 'schema' || s.record.kind === 'deleteSubject') s.accepted = this.fold(s.record);
    }
  }

  private canonicalOf(schema: string): string | undefined {
    if (!this.canonicalCache.has(schema)) this.canonicalCache.set(schema, this.canonicalize(schema));
    return this.canonicalCache.get(schema);
  }

  private fold(r: LogRecord): boolean {
    switch (r.kind) {
      case 'config':
        if (r.compatibility === null) this.configs.delete(r.subject);
        else this.configs.set(r.subject, r.compatibility);
        return true;
      case 'mode':
        if (r.mode === null) this.modes.delete(r.subject);
        else this.modes.set(r.subject, r.mode);
        return true;
      case 'deleteSubject':
        for (const [version, entry] of this.subjects.get(r.subject) ?? []) {
          if (version <= r.version) entry.deleted = true;
        }
        return true;
      case 'schema':
        return r.deleted ? this.foldSoftDelete(r) : this.foldSchema(r);
      default:
        return true;
    }
  }

  private foldSoftDelete(r: SchemaRecord): boolean {
    const entry = this.subjects.get(r.subject)?.get(r.version);
    if (!entry || entry.id !== r.id) return false;
    entry.deleted = true;
    return true;
  }

  private foldSchema(r: SchemaRecord): boolean {
    const canonical = this.canonicalOf(r.schema);
    if (canonical === undefined || r.version < 1 || r.id < 0) return false;
    const existing = this.subjects.get(r.subject)?.get(r.version);
    if (existing) return existing.id === r.id && this.schemas.get(r.id)?.canonical === canonical;
    const byId = this.schemas.get(r.id);
    if (byId && byId.canonical !== canonical) return false;
    if (!byId) {
      this.schemas.set(r.id, { schema: r.schema, canonical });
      const ids = this.idsByCanonical.get(canonical) ?? [];
      ids.push(r.id);
      this.idsByCanonical.set(canonical, ids);
    }
    let versions = this.subjects.get(r.subject);
    if (!versions) this.subjects.set(r.subject, (versions = new Map()));
    versions.set(r.version, { id: r.id, deleted: false });
    this.maxIdSeen = Math.max(this.maxIdSeen, r.id);
    return true;
  }

  // ---------------------------------------------------------------- queries

  /** Subjects with at least one live version (or any version, with `deleted`), sorted. */
  subjectNames(deleted = false): string[] {
    return [...this.subjects.keys()].filter((s) => this.versions(s, deleted).length > 0).sort();
  }

  /** Version numbers of a subject, ascending; soft-deleted ones only with `deleted`. */
  versions(subject: string, deleted = false): number[] {
    const versions = this.subjects.get(subject);
    if (!versions) return [];
    return [...versions.entries()]
      .filter(([, e]) => deleted || !e.deleted)
      .map(([v]) => v)
      .sort((a, b) => a - b);
  }

  version(subject: string, version: number): VersionEntry | undefined {
    return this.subjects.get(subject)?.get(version);
  }

  hasSubject(subject: string, deleted = false): boolean {
    return this.versions(subject, deleted).length > 0;
  }

  schema(id: number): SchemaEntry | undefined {
    return this.schemas.get(id);
  }

  /** The id first given to this canonical schema, if any. */
  idFor(canonical: string): number | undefined {
    return this.idsByCanonical.get(canonical)?.[0];
  }

  /** The next id to allocate: above every id this instance has ever seen accepted. */
  nextId(): number {
    return this.maxIdSeen + 1;
  }

  /** The highest version of `subject` holding this canonical schema. */
  findVersion(subject: string, canonical: string, deleted = false): number | undefined {
    const found = this.versions(subject, deleted).filter(
      (v) => this.schemas.get(this.version(subject, v)!.id)?.canonical === canonical,
    );
    return found.at(-1);
  }

  /** Every (subject, version) holding `id`, sorted. */
  usesOf(id: number, deleted = false): { subject: string; version: number }[] {
    const out: { subject: string; version: number }[] = [];
    for (const subject of [...this.subjects.keys()].sort()) {
      for (const version of this.versions(subject, deleted)) {
        if (this.version(subject, version)!.id === id) out.push({ subject, version });
      }
    }
    return out;
  }

  config(subject: string | null): CompatibilityLevel | undefined {
    return this.configs.get(subject);
  }

  mode(subject: string | null): Mode | undefined {
    return this.modes.get(subject);
  }

  /**
   * Keys of the surviving SCHEMA / DELETE_SUBJECT records of `subject` (of one version only, if
   * given), accepted or not: what a permanent delete must tombstone so no record of it survives.
   */
  keysOf(subject: string, version?: number): string[] {
    const out: string[] = [];
    for (const [key, s] of this.survivors) {
      const r = s.record;
      if (r.kind === 'schema' && r.subject === subject && (version === undefined || r.version === version)) {
        out.push(key);
      } else if (r.kind === 'deleteSubject' && r.subject === subject && version === undefined) out.push(key);
    }
    return out;
  }

  /** Keys of surviving records the rules rejected: dead weight any instance may tombstone. */
  rejectedKeys(): string[] {
    return [...this.survivors].filter(([, s]) => !s.accepted).map(([key]) => key);
  }

  /** A plain snapshot of everything a client can observe, for comparisons in tests. */
  snapshot(): {
    subjects: Record<string, Record<number, VersionEntry>>;
    schemas: Record<number, SchemaEntry>;
    configs: Record<string, CompatibilityLevel>;
    modes: Record<string, Mode>;
  } {
    const subjects: Record<string, Record<number, VersionEntry>> = {};
    for (const s of [...this.subjects.keys()].sort()) {
      const versions = this.subjects.get(s)!;
      if (versions.size === 0) continue;
      subjects[s] = Object.fromEntries(
        [...versions].sort(([a], [b]) => a - b).map(([v, e]) => [v, { ...e }]),
      );
    }
    const schemas = Object.fromEntries([...this.schemas].sort(([a], [b]) => a - b));
    const label = (k: string | null) => k ?? '';
    return {
      subjects,
      schemas,
      configs: Object.fromEntries([...this.configs].map(([k, v]) => [label(k), v])),
      modes: Object.fromEntries([...this.modes].map(([k, v]) => [label(k), v])),
    };
  }
}
