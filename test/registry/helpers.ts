import type { BrokerConfigInput } from '../../engine/broker/index.js';
import { type RunningRegistry, startRegistry } from '../../engine/registry/index.js';
import { withBroker } from '../helpers/broker.js';

export const VND = 'application/vnd.schemaregistry.v1+json';

export interface HttpAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers.
  body: any;
  contentType: string | null;
}

/** A tiny REST client for assertions on exact statuses and bodies. */
export function http(url: string) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    contentType = VND,
  ): Promise<HttpAnswer> => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, contentType: res.headers.get('content-type') };
  };
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, body?: unknown, contentType?: string) => call('POST', path, body, contentType),
    put: (path: string, body?: unknown) => call('PUT', path, body),
    del: (path: string) => call('DELETE', path),
  };
}

export type Http = ReturnType<typeof http>;

/** `{"schema": "<json>"}`, the body of register / lookup / compatibility requests. */
export const body = (schema: unknown) => ({ schema: JSON.stringify(schema) });

export function record(name: string, fields: unknown[], extra: Record<string, unknown> = {}) {
  return { type: 'record', name, ...extra, fields };
}

/** An embedded broker and a registry on it; `restart` starts a fresh registry instance on the same topic. */
export async function withRegistry(brokerConfig: BrokerConfigInput = {}) {
  const env = await withBroker(brokerConfig);
  const instances: RunningRegistry[] = [];
  const start = async () => {
    const r = await startRegistry({ port: 0, bootstrapServers: [env.bootstrap] });
    instances.push(r);
    return r;
  };
  const registry = await start();
  return {
    env,
    registry,
    url: registry.url,
    http: http(registry.url),
    /** Another registry instance on the same broker and topic. */
    start,
    async stop() {
      await Promise.allSettled(instances.map((r) => r.close()));
      await env.stop();
    },
  };
}

/** Everything a client can read from a registry, for comparing instances. */
export async function dump(url: string) {
  const h = http(url);
  const subjects: string[] = (await h.get('/subjects?deleted=true')).body;
  const out: Record<string, unknown> = {};
  for (const s of subjects) {
    const versions: number[] = (await h.get(`/subjects/${encodeURIComponent(s)}/versions?deleted=true`)).body;
    const live: number[] = (await h.get(`/subjects/${encodeURIComponent(s)}/versions`)).body ?? [];
    out[s] = await Promise.all(
      versions.map(async (v) => {
        const got = (await h.get(`/subjects/${encodeURIComponent(s)}/versions/${v}?deleted=true`)).body;
        return { ...got, deleted: !(Array.isArray(live) && live.includes(v)) };
      }),
    );
  }
  return {
    subjects: out,
    config: (await h.get('/config')).body,
    mode: (await h.get('/mode')).body,
  };
}

/** Polls `fn` until it returns true, or fails after `ms`. */
export async function eventually(fn: () => Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
