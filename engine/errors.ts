/**
 * One base error for the engine, as kafkajs (KafkaJSError with `retriable`) and Fastify
 * (FST_ERR_*) do: a stable `code` callers can switch on, whether a retry can help, and the
 * underlying cause. Each failure family subclasses it; HTTP status mapping lives in one
 * place (engine/http) and keys on `code`.
 */
export class SluiceError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}
