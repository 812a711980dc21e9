import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../observability/logger.js';
import { RegistryError } from './errors.js';
import { SchemaRegistry } from './registry.js';
import { registerRoutes } from './routes.js';
import { SchemaLog } from './schemaLog.js';

export interface RegistryOptions {
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port; 0 picks a free one (default 8081). */
  port?: number;
  bootstrapServers: string[];
  /** The compacted topic holding the registry (default `_schemas`). */
  topic?: string;
  logger?: Logger;
  /** How long a write may wait on Kafka before failing with 50002 (default 30 s). */
  timeoutMs?: number;
}

export interface RunningRegistry {
  /** `http://host:port`, for clients. */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** Confluent's request content types, plain JSON, and anything else a curl user might send. */
function acceptJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new RegistryError(400, 400, `Unrecognized JSON: ${(err as Error).message}`), undefined);
    }
  });
}

/** Builds the HTTP server: routes, content types, Confluent's `{error_code, message}` errors. */
export function buildServer(registry: SchemaRegistry, logger: Logger, clusterId: string): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024 * 1024,
    routerOptions: { maxParamLength: 4096 },
  });
  acceptJsonBodies(app);
  app.addHook('onRequest', async (req, reply) => {
    const accept = req.headers.accept ?? '';
    const plainJson = accept.includes('application/json') && !accept.includes('schemaregistry');
    reply.type(plainJson ? 'application/json' : CONTENT_TYPE);
  });
  app.setNotFoundHandler((_req, reply) =>
    reply.code(404).send({ error_code: 404, message: 'HTTP 404 Not Found' }),
  );
  app.setErrorHandler((err: Error, req, reply) => {
    if (err instanceof RegistryError) {
      if (err.status >= 500) logger.error({ err, url: req.url }, 'registry request failed');
      return reply.code(err.status).send(err.toJSON());
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 400 && status < 500)
      return reply.code(status).send({ error_code: status, message: err.message });
    logger.error({ err, url: req.url }, 'registry request failed');
    return reply.code(500).send({ error_code: 500, message: err.message });
  });
  registerRoutes(app, registry, clusterId);
  return app;
}

/**
 * Starts a Confluent-compatible schema registry stored in a compacted Kafka topic. Resolves once
 * it has read the topic up to its end and listens; any number of instances may share a topic.
 */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  const logger = opts.logger ?? createLogger('registry');
  const host = opts.host ?? '127.0.0.1';
  const log = await SchemaLog.open({
    bootstrapServers: opts.bootstrapServers,
    topic: opts.topic ?? '_schemas',
    logger,
    timeoutMs: opts.timeoutMs,
  });
  const app = buildServer(new SchemaRegistry(log), logger, log.clusterId);
  try {
    await app.listen({ host, port: opts.port ?? 8081 });
  } catch (err) {
    await log.close();
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, topic: opts.topic ?? '_schemas' }, 'schema registry listening');
  let closing: Promise<void> | null = null;
  return {
    url,
    host,
    port,
    close() {
      closing ??= (async () => {
        await app.close();
        await log.close();
      })();
      return closing;
    },
  };
}
