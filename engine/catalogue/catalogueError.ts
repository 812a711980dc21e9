import { SluiceError } from '../errors.js';

/**
 * Stable codes of the catalogue failure family:
 * - `SLUICE_CATALOGUE_NOT_FOUND`: the directory or its `catalogue.json` cannot be read;
 * - `SLUICE_CATALOGUE_INVALID`: a file is not JSON, does not have the expected shape, or the
 *   topics and schemas do not agree (unknown schema, duplicate names, wrong subject, ...);
 * - `SLUICE_CATALOGUE_SCHEMA_INVALID`: avsc rejects an `.avsc` file;
 * - `SLUICE_CATALOGUE_UNKNOWN_TOPIC`: `catalogue.topic(name)` was asked for a topic it does not list.
 */
export type CatalogueErrorCode =
  | 'SLUICE_CATALOGUE_NOT_FOUND'
  | 'SLUICE_CATALOGUE_INVALID'
  | 'SLUICE_CATALOGUE_SCHEMA_INVALID'
  | 'SLUICE_CATALOGUE_UNKNOWN_TOPIC';

/**
 * A catalogue that cannot be loaded or used. `issues` holds one line per problem, each naming the
 * file and the field at fault; the message is those lines joined by newlines.
 */
export class CatalogueError extends SluiceError {
  declare readonly code: CatalogueErrorCode;
  readonly issues: readonly string[];

  constructor(
    code: CatalogueErrorCode,
    issues: string | readonly string[],
    options: { cause?: unknown } = {},
  ) {
    const list = typeof issues === 'string' ? [issues] : [...issues];
    super(code, list.join('\n'), options);
    this.issues = list;
  }
}
