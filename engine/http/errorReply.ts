/** The body of every error the API answers: a stable code and a message for people, never a stack. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/**
 * Statuses of engine error codes that carry none. Errors that cross the HTTP boundary get their
 * status here, in one place: from `statusCode` when they carry one (Fastify's and its plugins'
 * errors do, and so may any user error), else from their code in this table (extended with the
 * server's `statusByCode`), else 503 when retriable, else 500.
 */
export const engineStatusByCode: Readonly<Record<string, number>> = {
  SLUICE_BLOB_NOT_FOUND: 404,
  SLUICE_CODEC_INVALID_VALUE: 400,
};

const phrases: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_ENTITY',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_ERROR',
  503: 'SERVICE_UNAVAILABLE',
};

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  /** True when the error is the server's fault (5xx): it is logged, and its message is hidden when unexpected. */
  serverFault: boolean;
}

/** The status and body answering `err`. */
export function errorReply(err: unknown, statusByCode: Readonly<Record<string, number>> = {}): ErrorReply {
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    statusCode?: unknown;
    code?: unknown;
    message?: unknown;
    retriable?: unknown;
    validation?: unknown;
  };
  const code = typeof e.code === 'string' && e.code !== '' ? e.code : null;
  const declared = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode <= 599;
  let status: number;
  if (declared) status = e.statusCode as number;
  else if (e.validation !== undefined) status = 400;
  else if (code !== null && (statusByCode[code] ?? engineStatusByCode[code]) !== undefined)
    status = statusByCode[code] ?? engineStatusByCode[code];
  else if (e.retriable === true) status = 503;
  else status = 500;
  const known = declared || status !== 500;
  const message =
    known && typeof e.message === 'string' && e.message !== ''
      ? e.message
      : status === 500
        ? 'internal server error'
        : (phrases[status] ?? 'error').toLowerCase().replaceAll('_', ' ');
  const fallback = phrases[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
  return {
    status,
    body: { error: { code: known && code !== null ? code : fallback, message } },
    serverFault: status >= 500,
  };
}
