import { SluiceError } from '../errors.js';

/** Confluent Schema Registry error codes (io.confluent.kafka.schemaregistry.rest.exceptions.Errors). */
export const ErrorCode = {
  SUBJECT_NOT_FOUND: 40401,
  VERSION_NOT_FOUND: 40402,
  SCHEMA_NOT_FOUND: 40403,
  SUBJECT_SOFT_DELETED: 40404,
  SUBJECT_NOT_SOFT_DELETED: 40405,
  SCHEMAVERSION_SOFT_DELETED: 40406,
  SCHEMAVERSION_NOT_SOFT_DELETED: 40407,
  SUBJECT_COMPATIBILITY_NOT_CONFIGURED: 40408,
  SUBJECT_MODE_NOT_CONFIGURED: 40409,
  /** Confluent 7.x and earlier (and what clients expect): error_code equals the HTTP status. */
  INCOMPATIBLE_SCHEMA: 409,
  INVALID_SCHEMA: 42201,
  INVALID_VERSION: 42202,
  INVALID_COMPATIBILITY_LEVEL: 42203,
  INVALID_MODE: 42204,
  OPERATION_NOT_PERMITTED: 42205,
  INVALID_SUBJECT: 42208,
  STORE_ERROR: 50001,
  OPERATION_TIMEOUT: 50002,
  REQUEST_FORWARDING_FAILED: 50003,
} as const;

export type RegistryErrorCode =
  | 'SLUICE_REGISTRY_NOT_FOUND'
  | 'SLUICE_REGISTRY_INCOMPATIBLE'
  | 'SLUICE_REGISTRY_INVALID_SCHEMA'
  | 'SLUICE_REGISTRY_UNAVAILABLE'
  | 'SLUICE_REGISTRY_ERROR';

/** The one place a Confluent answer (HTTP status, error_code) becomes a Sluice code. */
export function codeFor(status: number, errorCode: number): RegistryErrorCode {
  if (status === 0 || status >= 500) return 'SLUICE_REGISTRY_UNAVAILABLE';
  if (status === 404) return 'SLUICE_REGISTRY_NOT_FOUND';
  if (status === 409) return 'SLUICE_REGISTRY_INCOMPATIBLE';
  if (errorCode === ErrorCode.INVALID_SCHEMA) return 'SLUICE_REGISTRY_INVALID_SCHEMA';
  return 'SLUICE_REGISTRY_ERROR';
}

/**
 * A schema-registry failure, on either side of HTTP: the server throws it and renders
 * `{error_code, message}` with `status`; the client rebuilds it from that body. `status` 0 means
 * no answer arrived (network failure or timeout). 5xx and no-answer failures are retriable.
 */
export class RegistryError extends SluiceError {
  declare readonly code: RegistryErrorCode;
  readonly status: number;
  readonly errorCode: number;

  constructor(status: number, errorCode: number, message: string, options: { cause?: unknown } = {}) {
    const code = codeFor(status, errorCode);
    super(code, message, { retriable: code === 'SLUICE_REGISTRY_UNAVAILABLE', cause: options.cause });
    this.status = status;
    this.errorCode = errorCode;
  }

  /** Confluent's wire shape. */
  toJSON(): { error_code: number; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }

  static subjectNotFound(subject: string | null): RegistryError {
    return new RegistryError(404, ErrorCode.SUBJECT_NOT_FOUND, `Subject '${subject}' not found.`);
  }
  static versionNotFound(version: number): RegistryError {
    return new RegistryError(404, ErrorCode.VERSION_NOT_FOUND, `Version ${version} not found.`);
  }
  static schemaNotFound(id?: number): RegistryError {
    const message = id === undefined ? 'Schema not found' : `Schema ${id} not found`;
    return new RegistryError(404, ErrorCode.SCHEMA_NOT_FOUND, message);
  }
  static subjectSoftDeleted(subject: string): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SUBJECT_SOFT_DELETED,
      `Subject '${subject}' was soft deleted.Set permanent=true to delete permanently`,
    );
  }
  static subjectNotSoftDeleted(subject: string): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SUBJECT_NOT_SOFT_DELETED,
      `Subject '${subject}' was not deleted first before being permanently deleted`,
    );
  }
  static versionSoftDeleted(subject: string, version: number): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SCHEMAVERSION_SOFT_DELETED,
      `Subject '${subject}' Version ${version} was soft deleted.Set permanent=true to delete permanently`,
    );
  }
  static versionNotSoftDeleted(subject: string, version: number): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SCHEMAVERSION_NOT_SOFT_DELETED,
      `Subject '${subject}' Version ${version} was not deleted first before being permanently deleted`,
    );
  }
  static compatibilityNotConfigured(subject: string): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
      `Subject '${subject}' does not have subject-level compatibility configured`,
    );
  }
  static modeNotConfigured(subject: string): RegistryError {
    return new RegistryError(
      404,
      ErrorCode.SUBJECT_MODE_NOT_CONFIGURED,
      `Subject '${subject}' does not have subject-level mode configured`,
    );
  }
  static incompatible(subject: string, messages: string[]): RegistryError {
    return new RegistryError(
      409,
      ErrorCode.INCOMPATIBLE_SCHEMA,
      `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: [${messages.join(', ')}]`,
    );
  }
  static invalidSchema(message: string, cause?: unknown): RegistryError {
    return new RegistryError(422, ErrorCode.INVALID_SCHEMA, message, { cause });
  }
  static invalidVersion(version: string): RegistryError {
    return new RegistryError(
      422,
      ErrorCode.INVALID_VERSION,
      `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
    );
  }
  static invalidCompatibility(): RegistryError {
    return new RegistryError(
      422,
      ErrorCode.INVALID_COMPATIBILITY_LEVEL,
      'Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive',
    );
  }
  static invalidMode(): RegistryError {
    return new RegistryError(
      422,
      ErrorCode.INVALID_MODE,
      'Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.',
    );
  }
  static invalidSubject(subject: string): RegistryError {
    return new RegistryError(
      422,
      ErrorCode.INVALID_SUBJECT,
      `The specified subject '${subject}' is not valid.`,
    );
  }
  static notPermitted(message: string): RegistryError {
    return new RegistryError(422, ErrorCode.OPERATION_NOT_PERMITTED, message);
  }
  static store(message: string, cause?: unknown): RegistryError {
    return new RegistryError(500, ErrorCode.STORE_ERROR, message, { cause });
  }
  static timeout(message: string, cause?: unknown): RegistryError {
    return new RegistryError(500, ErrorCode.OPERATION_TIMEOUT, message, { cause });
  }
}
