// Structured logging: one pino root per process, passed down and composed with context, never global.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** pino level; default from DISTILLERY_LOG_LEVEL, else 'info'. */
  level?: string;
  /** Where log lines go; stderr by default so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
}

/** Secret-bearing fields, wherever a config object or error puts them (pino paths: `*` is one level). */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'secretAccessKey',
  '*.secretAccessKey',
  '*.*.secretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'credentials',
  '*.credentials',
  'sasl.password',
  '*.headers.authorization',
  '*.headers.Authorization',
];

/** Creates the process's root logger. Credentials never reach it: redact the usual secret fields anyway. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.DISTILLERY_LOG_LEVEL ?? 'info';
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that discards everything (tests, library callers that pass none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
