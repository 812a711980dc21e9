export { type ErrorBody, type ErrorReply, engineStatusByCode, errorReply } from './errorReply.js';
export { createHttpServer, type HttpServerOptions } from './server.js';
