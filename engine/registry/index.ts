export { parseAvro, parsingCanonicalForm, registryCanonicalForm } from './canonicalForm.js';
export { type RegisteredSchema, RegistryClient, type RegistryClientOptions } from './client.js';
export { registryCommand, registryUsage } from './command.js';
export { compatibilityErrors } from './compatibility.js';
export { codeFor, ErrorCode, RegistryError, type RegistryErrorCode } from './errors.js';
export { COMPATIBILITY_LEVELS, type CompatibilityLevel, MODES, type Mode } from './records.js';
export { type RegistryOptions, type RunningRegistry, startRegistry } from './server.js';
