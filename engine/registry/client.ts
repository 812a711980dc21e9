import { setTimeout as sleep } from 'node:timers/promises';
import { registryCanonicalForm } from './canonicalForm.js';
import { RegistryError } from './errors.js';
import type { CompatibilityLevel, Mode } from './records.js';

export interface RegistryClientOptions {
  /** The registry's base URL, e.g. http://127.0.0.1:8081 (Sluice's or Confluent's). */
  url: string;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** Retries after the first attempt, for retriable failures only (default 3). */
  retries?: number;
  /** First backoff; doubles on each retry, with jitter (default 100 ms). */
  retryBackoffMs?: number;
  /** The fetch implementation (default Node's global fetch). */
  fetch?: typeof fetch;
}

export interface RegisteredSchema {
  id: number;
  version: number;
  schema: string;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

const textOf = (schema: string | object): string =>
  typeof schema === 'string' ? schema : JSON.stringify(schema);

function canonicalOrNull(schema: string): string | null {
  try {
    return registryCanonicalForm(schema);
  } catch {
    return null;
  }
}

/**
 * The engine's client for a Confluent-compatible schema registry. Immutable answers are cached:
 * the schema of an id, and the id of a (subject, schema) pair, keyed by the schema's canonical
 * form so formatting differences hit the cache. Failures are RegistryErrors; 5xx answers,
 * network failures and timeouts are retriable and retried with exponential backoff.
 */
export class RegistryClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly schemasById = new Map<number, string>();
  private readonly idsBySubjectSchema = new Map<string, number>();

  constructor(opts: RegistryClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.retryBackoffMs ?? 100;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
  }

  private subjectKey(subject: string, schema: string): string | null {
    const canonical = canonicalOrNull(schema);
    return canonical === null ? null : `${subject}\u0000${canonical}`;
  }

  /** Registers `schema` under `subject` (idempotent) and returns its global id. */
  async register(subject: string, schema: string | object): Promise<number> {
    const text = textOf(schema);
    const key = this.subjectKey(subject, text);
    const cached = key === null ? undefined : this.idsBySubjectSchema.get(key);
    if (cached !== undefined) return cached;
    const { id } = await this.request<{ id: number }>('POST', `/subjects/${enc(subject)}/versions`, {
      schema: text,
    });
    if (key !== null) this.idsBySubjectSchema.set(key, id);
    return id;
  }

  /** The id and version of `schema` under `subject`, or null if it is not registered there. */
  async lookup(subject: string, schema: string | object): Promise<{ id: number; version: number } | null> {
    const text = textOf(schema);
    try {
      const found = await this.request<RegisteredSchema>('POST', `/subjects/${enc(subject)}`, {
        schema: text,
      });
      const key = this.subjectKey(subject, text);
      if (key !== null) this.idsBySubjectSchema.set(key, found.id);
      this.schemasById.set(found.id, found.schema);
      return { id: found.id, version: found.version };
    } catch (err) {
      if (err instanceof RegistryError && (err.errorCode === 40401 || err.errorCode === 40403)) return null;
      throw err;
    }
  }

  /** The schema (JSON text) registered under `id`. */
  async getSchemaById(id: number): Promise<string> {
    const cached = this.schemasById.get(id);
    if (cached !== undefined) return cached;
    const { schema } = await this.request<{ schema: string }>('GET', `/schemas/ids/${id}`);
    this.schemasById.set(id, schema);
    return schema;
  }

  getLatest(subject: string): Promise<RegisteredSchema> {
    return this.getVersion(subject, 'latest');
  }

  async getVersion(subject: string, version: number | 'latest'): Promise<RegisteredSchema> {
    const found = await this.request<RegisteredSchema>(
      'GET',
      `/subjects/${enc(subject)}/versions/${version}`,
    );
    this.schemasById.set(found.id, found.schema);
    return { id: found.id, version: found.version, schema: found.schema };
  }

  /** Whether `schema` could be registered after `version` under the subject's compatibility level. */
  async checkCompatibility(
    subject: string,
    schema: string | object,
    version: number | 'latest' = 'latest',
  ): Promise<boolean> {
    const { is_compatible } = await this.request<{ is_compatible: boolean }>(
      'POST',
      `/compatibility/subjects/${enc(subject)}/versions/${version}`,
      { schema: textOf(schema) },
    );
    return is_compatible;
  }

  /** The global level, or the level in effect for `subject` (its own, else the global one). */
  async getConfig(subject?: string): Promise<CompatibilityLevel> {
    const path = subject === undefined ? '/config' : `/config/${enc(subject)}?defaultToGlobal=true`;
    return (await this.request<{ compatibilityLevel: CompatibilityLevel }>('GET', path)).compatibilityLevel;
  }

  async setConfig(compatibility: CompatibilityLevel, subject?: string): Promise<CompatibilityLevel> {
    const path = subject === undefined ? '/config' : `/config/${enc(subject)}`;
    return (await this.request<{ compatibility: CompatibilityLevel }>('PUT', path, { compatibility }))
      .compatibility;
  }

  async getMode(subject?: string): Promise<Mode> {
    const path = subject === undefined ? '/mode' : `/mode/${enc(subject)}?defaultToGlobal=true`;
    return (await this.request<{ mode: Mode }>('GET', path)).mode;
  }

  async setMode(mode: Mode, subject?: string): Promise<Mode> {
    const path = subject === undefined ? '/mode' : `/mode/${enc(subject)}`;
    return (await this.request<{ mode: Mode }>('PUT', path, { mode })).mode;
  }

  listSubjects(): Promise<string[]> {
    return this.request<string[]>('GET', '/subjects');
  }

  /** Soft-deletes a subject (or removes a soft-deleted one for good); returns the versions deleted. */
  async deleteSubject(subject: string, permanent = false): Promise<number[]> {
    for (const key of this.idsBySubjectSchema.keys()) {
      if (key.startsWith(`${subject}\u0000`)) this.idsBySubjectSchema.delete(key);
    }
    return this.request<number[]>('DELETE', `/subjects/${enc(subject)}${permanent ? '?permanent=true' : ''}`);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt<T>(method, path, body);
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retriable) throw err;
        if (attempt >= this.retries) {
          throw new RegistryError(
            err.status,
            err.errorCode,
            `${err.message} (gave up after ${attempt + 1} attempts)`,
            {
              cause: err,
            },
          );
        }
        const delay = this.backoffMs * 2 ** attempt;
        await sleep(delay / 2 + Math.random() * (delay / 2));
      }
    }
  }

  private async attempt<T>(method: string, path: string, body?: unknown): Promise<T> {
    const what = `${method} ${this.base}${path}`;
    let status: number;
    let text: string;
    try {
      const res = await this.fetchFn(`${this.base}${path}`, {
        method,
        headers: { accept: CONTENT_TYPE, ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const why = timedOut ? `timed out after ${this.timeoutMs} ms` : `failed: ${(err as Error).message}`;
      throw new RegistryError(0, 0, `${what} ${why}`, { cause: err });
    }
    let payload: unknown;
    try {
      payload = text === '' ? undefined : JSON.parse(text);
    } catch {
      payload = undefined;
    }
    if (status >= 200 && status < 300) {
      if (payload === undefined) throw new RegistryError(502, 50000, `${what}: the answer is not JSON`);
      return payload as T;
    }
    const p = (payload ?? {}) as { error_code?: unknown; message?: unknown };
    const errorCode = typeof p.error_code === 'number' ? p.error_code : status;
    const message = typeof p.message === 'string' ? p.message : `HTTP ${status}`;
    throw new RegistryError(status, errorCode, `${what}: ${message}`);
  }
}

const enc = encodeURIComponent;
