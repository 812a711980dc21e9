import { readdirSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import avro from 'avsc';
import { z } from 'zod';
import { CatalogueError } from './catalogueError.js';
import { readJsonFile, validate } from './jsonFile.js';

/** avsc's logical type implementations, keyed by logical type name (see avsc's `ForSchemaOptions`). */
export type LogicalTypes = NonNullable<Parameters<typeof avro.Type.forSchema>[1]>['logicalTypes'];

/** One `.avsc` file: a top-level Avro record, kept as raw JSON and parsed by avsc. */
export interface SchemaEntry {
  fullName: string;
  /** Path relative to the catalogue directory, with `/` separators. */
  file: string;
  /** The schema exactly as written in the file. */
  json: Record<string, unknown>;
  type: avro.Type;
}

const avroName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const avroNamespace = /^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$/;

/**
 * Only what the catalogue relies on is checked here (a named top-level record with fields, each
 * with a name and a type); avsc checks the rest. Extra attributes are allowed, as Avro allows.
 */
const topLevelRecordSchema = z.looseObject({
  type: z.literal('record', { error: 'must be "record": each .avsc file holds one top-level record' }),
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be an Avro name'),
  namespace: z.string().regex(avroNamespace, 'must be an Avro namespace').optional(),
  doc: z.string().optional(),
  fields: z.array(
    z.looseObject({
      name: z.string().regex(avroName, 'must be an Avro name'),
      type: z.union([z.string(), z.array(z.unknown()), z.looseObject({})]),
    }),
  ),
});

/** Every `*.avsc` under `dir` (skipping dot-directories and node_modules), relative, sorted. */
export function findSchemaFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.avsc'))
        out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** The full name of a named Avro type: `name` if it has dots, else `namespace.name`. */
export function fullNameOf(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

/** Reads `file` (relative to `dir`) and checks its shape, before avsc sees it. */
export function readSchemaJson(
  dir: string,
  file: string,
): { fullName: string; json: Record<string, unknown> } {
  const path = join(dir, file);
  const raw = readJsonFile(path);
  const record = validate(topLevelRecordSchema, raw, path);
  const fullName = fullNameOf(record.name, record.namespace);
  const shortName = fullName.slice(fullName.lastIndexOf('.') + 1);
  if (basename(file, '.avsc') !== shortName) {
    throw new CatalogueError(
      'SLUICE_CATALOGUE_INVALID',
      `${path}: name: record ${fullName} must be in a file named ${shortName}.avsc`,
    );
  }
  return { fullName, json: raw as Record<string, unknown> };
}

/**
 * Parses a schema with avsc. Each file is parsed on its own (its own registry of names), so every
 * `.avsc` must be self-contained; `definedIn` names the file of each top-level record so that a
 * reference to another file's record gets a hint instead of avsc's bare "undefined type name".
 */
export function parseSchema(
  dir: string,
  file: string,
  json: Record<string, unknown>,
  definedIn: ReadonlyMap<string, string>,
  logicalTypes: LogicalTypes,
): avro.Type {
  try {
    return avro.Type.forSchema(json as avro.Schema, { logicalTypes });
  } catch (err) {
    let message = (err as Error).message;
    const undefinedName = /^undefined type name: (\S+)$/.exec(message)?.[1];
    const other = undefinedName === undefined ? undefined : definedIn.get(undefinedName);
    if (other !== undefined && other !== file) {
      message += ` (it is defined in ${other}; each .avsc file must define every named type it uses)`;
    }
    throw new CatalogueError(
      'SLUICE_CATALOGUE_SCHEMA_INVALID',
      `${join(dir, file)}: invalid Avro schema: ${message}`,
      {
        cause: err,
      },
    );
  }
}
