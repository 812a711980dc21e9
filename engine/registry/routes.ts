import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from './errors.js';
import type { SchemaRegistry } from './registry.js';

/** Confluent's REST API (v1) over a SchemaRegistry. Errors are thrown as RegistryError. */

type Query = Record<string, string | undefined>;
type Req<P = Record<string, string>> = FastifyRequest<{ Params: P; Querystring: Query }>;

/** JAX-RS boolean query parameters: "true" in any case, anything else is false. */
const flag = (q: Query, name: string): boolean => q[name]?.toLowerCase() === 'true';

function schemaId(raw: string): number {
  const id = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw RegistryError.schemaNotFound();
  return id;
}

export function registerRoutes(app: FastifyInstance, registry: SchemaRegistry, clusterId: string): void {
  app.get('/', async () => ({}));
  app.post('/', async () => ({}));
  app.get('/contexts', async () => ['.']);
  app.get('/v1/metadata/id', async () => ({
    scope: {
      path: [],
      clusters: { 'kafka-cluster': clusterId, 'schema-registry-cluster': 'schema-registry' },
    },
  }));

  // ------------------------------------------------------------ schemas
  app.get('/schemas/types', async () => ['AVRO']);
  app.get('/schemas', async (req: Req) =>
    registry.listSchemas(
      req.query.subjectPrefix ?? '',
      flag(req.query, 'deleted'),
      flag(req.query, 'latestOnly'),
    ),
  );
  app.get('/schemas/ids/:id', async (req: Req<{ id: string }>) =>
    registry.schemaById(schemaId(req.params.id), req.query.subject),
  );
  app.get('/schemas/ids/:id/schema', async (req: Req<{ id: string }>, reply: FastifyReply) => {
    const { schema } = await registry.schemaById(schemaId(req.params.id), req.query.subject);
    return reply.send(schema);
  });
  app.get('/schemas/ids/:id/versions', async (req: Req<{ id: string }>) =>
    registry.versionsOfId(schemaId(req.params.id), flag(req.query, 'deleted')),
  );
  app.get('/schemas/ids/:id/subjects', async (req: Req<{ id: string }>) => {
    const uses = await registry.versionsOfId(schemaId(req.params.id), flag(req.query, 'deleted'));
    return [...new Set(uses.map((u) => u.subject))];
  });

  // ------------------------------------------------------------ subjects
  app.get('/subjects', async (req: Req) => {
    const prefix = req.query.subjectPrefix ?? '';
    return registry.listSubjects(flag(req.query, 'deleted')).filter((s) => s.startsWith(prefix));
  });
  app.post('/subjects/:subject', async (req: Req<{ subject: string }>) =>
    registry.lookup(req.params.subject, req.body, flag(req.query, 'deleted')),
  );
  app.delete('/subjects/:subject', async (req: Req<{ subject: string }>) =>
    registry.deleteSubject(req.params.subject, flag(req.query, 'permanent')),
  );
  app.get('/subjects/:subject/versions', async (req: Req<{ subject: string }>) =>
    registry.listVersions(req.params.subject, flag(req.query, 'deleted')),
  );
  app.post('/subjects/:subject/versions', async (req: Req<{ subject: string }>) =>
    registry.register(req.params.subject, req.body),
  );
  app.get('/subjects/:subject/versions/:version', async (req: Req<{ subject: string; version: string }>) =>
    registry.getVersion(req.params.subject, req.params.version, flag(req.query, 'deleted')),
  );
  app.get(
    '/subjects/:subject/versions/:version/schema',
    async (req: Req<{ subject: string; version: string }>, reply: FastifyReply) => {
      const { schema } = registry.getVersion(
        req.params.subject,
        req.params.version,
        flag(req.query, 'deleted'),
      );
      return reply.send(schema);
    },
  );
  app.delete(
    '/subjects/:subject/versions/:version',
    async (req: Req<{ subject: string; version: string }>, reply: FastifyReply) => {
      const version = await registry.deleteVersion(
        req.params.subject,
        req.params.version,
        flag(req.query, 'permanent'),
      );
      return reply.send(JSON.stringify(version));
    },
  );

  // ------------------------------------------------------------ compatibility
  app.post(
    '/compatibility/subjects/:subject/versions/:version',
    async (req: Req<{ subject: string; version: string }>) =>
      registry.testCompatibility(
        req.params.subject,
        req.params.version,
        req.body,
        flag(req.query, 'verbose'),
      ),
  );
  app.post('/compatibility/subjects/:subject/versions', async (req: Req<{ subject: string }>) =>
    registry.testCompatibility(req.params.subject, undefined, req.body, flag(req.query, 'verbose')),
  );

  // ------------------------------------------------------------ config
  app.get('/config', async () => registry.getConfig(null, true));
  app.put('/config', async (req: Req) => registry.setConfig(null, req.body));
  app.delete('/config', async () => registry.deleteConfig(null));
  app.get('/config/:subject', async (req: Req<{ subject: string }>) =>
    registry.getConfig(req.params.subject, flag(req.query, 'defaultToGlobal')),
  );
  app.put('/config/:subject', async (req: Req<{ subject: string }>) =>
    registry.setConfig(req.params.subject, req.body),
  );
  app.delete('/config/:subject', async (req: Req<{ subject: string }>) =>
    registry.deleteConfig(req.params.subject),
  );

  // ------------------------------------------------------------ mode
  app.get('/mode', async () => registry.getMode(null, true));
  app.put('/mode', async (req: Req) => registry.setMode(null, req.body, flag(req.query, 'force')));
  app.delete('/mode', async () => registry.deleteMode(null));
  app.get('/mode/:subject', async (req: Req<{ subject: string }>) =>
    registry.getMode(req.params.subject, flag(req.query, 'defaultToGlobal')),
  );
  app.put('/mode/:subject', async (req: Req<{ subject: string }>) =>
    registry.setMode(req.params.subject, req.body, flag(req.query, 'force')),
  );
  app.delete('/mode/:subject', async (req: Req<{ subject: string }>) =>
    registry.deleteMode(req.params.subject),
  );
}
