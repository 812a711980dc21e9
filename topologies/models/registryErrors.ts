import { SluiceError } from '../../engine/errors.js';

/** Why a registry command was refused; each has a stable code and the HTTP status the API answers. */
export type RegistryRefusal =
  | 'invalid'
  | 'model-not-found'
  | 'version-not-found'
  | 'alias-unknown'
  | 'alias-derived'
  | 'no-previous-champion'
  | 'missing-topic'
  | 'fenced';

const refusals: Record<RegistryRefusal, { code: string; statusCode: number }> = {
  invalid: { code: 'SLUICE_MODEL_INVALID', statusCode: 400 },
  'model-not-found': { code: 'SLUICE_MODEL_NOT_FOUND', statusCode: 404 },
  'version-not-found': { code: 'SLUICE_MODEL_VERSION_NOT_FOUND', statusCode: 404 },
  'alias-unknown': { code: 'SLUICE_MODEL_ALIAS_UNKNOWN', statusCode: 404 },
  'alias-derived': { code: 'SLUICE_MODEL_ALIAS_DERIVED', statusCode: 422 },
  'no-previous-champion': { code: 'SLUICE_MODEL_NO_PREVIOUS_CHAMPION', statusCode: 409 },
  'missing-topic': { code: 'SLUICE_MODEL_REGISTRY_MISSING_TOPIC', statusCode: 503 },
  fenced: { code: 'SLUICE_MODEL_REGISTRY_FENCED', statusCode: 503 },
};

/** A registry command refused before anything was written; `statusCode` is what the HTTP API answers. */
export class ModelRegistryError extends SluiceError {
  readonly statusCode: number;

  constructor(
    readonly reason: RegistryRefusal,
    message: string,
    cause?: unknown,
  ) {
    super(refusals[reason].code, message, { cause });
    this.statusCode = refusals[reason].statusCode;
  }
}

/** A model artifact whose files do not hash to the SHA-256 its registration recorded: never served. */
export class ModelArtifactError extends SluiceError {
  constructor(
    code: 'SLUICE_MODEL_ARTIFACT_MISMATCH' | 'SLUICE_MODEL_ARTIFACT_UNREADABLE' | 'SLUICE_MODEL_ARTIFACT_URI',
    message: string,
    cause?: unknown,
  ) {
    super(code, message, { cause });
  }
}
