import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ModelRegistry } from './modelRegistry.js';
import { ModelRegistryError } from './registryErrors.js';

const aliasBody = z.object({
  version: z.number().int().positive(),
  by: z.string().min(1).max(256).optional(),
});
const rollbackBody = z.object({
  reason: z.string().min(1).max(1024).optional(),
  by: z.string().min(1).max(256).optional(),
});

type NameParams = { name: string };

/** The request body checked against `schema`; a missing body is an empty object. */
function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new ModelRegistryError('invalid', `invalid request body: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The model registry's HTTP API, answered from the registry's in-memory state (the log as its
 * follower has applied it, read-your-writes after each command; not the `models` read model,
 * which a projection fills asynchronously):
 *
 * - `GET /v1/models`: every model with its champion, challenger and latest version;
 * - `GET /v1/models/{name}/versions`: its versions, oldest first, with their aliases;
 * - `POST /v1/models/{name}/aliases/{alias}` `{ version, by? }`: `champion` promotes the version
 *   (200, `changed: false` when it already was champion); `challenger` is derived, 422;
 * - `POST /v1/models/{name}/rollback` `{ reason?, by? }`: back to the previous champion (409 when
 *   there is none).
 *
 * Errors are the engine's JSON errors: unknown model, version or alias 404, bad body 400.
 */
export async function registerModelRoutes(app: FastifyInstance, registry: ModelRegistry): Promise<void> {
  app.get('/v1/models', async () => ({ models: registry.models() }));

  app.get<{ Params: NameParams }>('/v1/models/:name/versions', async (request) =>
    registry.versions(request.params.name),
  );

  app.post<{ Params: NameParams & { alias: string } }>('/v1/models/:name/aliases/:alias', async (request) => {
    const { version, by } = parseBody(aliasBody, request.body);
    return registry.setAlias(request.params.name, request.params.alias, version, by ?? null);
  });

  app.post<{ Params: NameParams }>('/v1/models/:name/rollback', async (request) => {
    const { reason, by } = parseBody(rollbackBody, request.body);
    return registry.rollback(request.params.name, reason ?? 'manual rollback', by ?? null);
  });
}
