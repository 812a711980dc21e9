import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { CatalogueError } from './catalogueError.js';

/** Reads and parses a JSON file; a parse failure is `SLUICE_CATALOGUE_INVALID` naming the file. */
export function readJsonFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CatalogueError('SLUICE_CATALOGUE_INVALID', `${path}: invalid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Validates `value` with `schema`; on failure throws `SLUICE_CATALOGUE_INVALID` with one issue per
 * zod issue, as `<path>: <field path>: <message>`. `describe` may add context to a field path
 * (e.g. the name of the topic at `topics[3]`).
 */
export function validate<S extends z.ZodType>(
  schema: S,
  value: unknown,
  path: string,
  describe: (fieldPath: PropertyKey[]) => string = () => '',
): z.output<S> {
  const result = schema.safeParse(value, {
    error: (issue) => (issue.input === undefined ? 'missing' : undefined),
  });
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const field = formatFieldPath(issue.path);
    return `${path}: ${field === '' ? '' : `${field}: `}${issue.message}${describe(issue.path)}`;
  });
  throw new CatalogueError('SLUICE_CATALOGUE_INVALID', issues);
}

/** `['topics', 3, 'key', 'doc']` → `topics[3].key.doc`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
