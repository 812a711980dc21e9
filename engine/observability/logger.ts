import { type Logger, pino } from 'pino';

/** JSON logs on stderr (stdout stays for command output); SLUICE_LOG_LEVEL sets the level. */
export function createLogger(name: string, level = process.env.SLUICE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination(2));
}

export type { Logger };
