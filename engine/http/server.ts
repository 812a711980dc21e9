import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../observability/logger.js';
import { errorReply } from './errorReply.js';

export interface HttpServerOptions {
  /** A pino logger for requests and server faults; omitted or false: no logging. */
  logger?: Logger | false;
  /** Largest request body the built-in parsers accept, in bytes (Fastify's default: 1 MiB). */
  bodyLimit?: number;
  /** Statuses of error codes that carry no `statusCode`, added to the engine's own. */
  statusByCode?: Readonly<Record<string, number>>;
  /** Milliseconds a client has to send a whole request (0: no limit, Node's default). */
  requestTimeout?: number;
  /** Trust X-Forwarded-* from a reverse proxy (Fastify's `trustProxy`). */
  trustProxy?: boolean;
}

/**
 * The engine's API server: Fastify with one error shape, `{ error: { code, message } }`, under
 * the status `errorReply` maps the error to (never a stack), the same shape for unknown routes,
 * and `GET /health`. Users register their routes (and plugins) on the instance, then `listen`.
 */
export function createHttpServer(options: HttpServerOptions = {}): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit,
    requestTimeout: options.requestTimeout,
    trustProxy: options.trustProxy,
  }) as unknown as FastifyInstance;
  const statusByCode = options.statusByCode ?? {};

  app.setErrorHandler((err, request, reply) => {
    const { status, body, serverFault } = errorReply(err, statusByCode);
    if (serverFault) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code, status }, body.error.message);
    return reply.status(status).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    }),
  );

  app.get('/health', async () => ({ status: 'ok' }));
  return app;
}
