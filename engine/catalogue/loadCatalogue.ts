import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type avro from 'avsc';
import { CatalogueError } from './catalogueError.js';
import { readJsonFile, validate } from './jsonFile.js';
import {
  findSchemaFiles,
  type LogicalTypes,
  parseSchema,
  readSchemaJson,
  type SchemaEntry,
} from './schemaFile.js';
import {
  type CatalogueFile,
  catalogueFileSchema,
  subjectName,
  type TopicEntry,
  type TopicSpec,
} from './topicSpec.js';

/** Topics and value schemas of a catalogue directory, checked against each other. */
export interface Catalogue {
  dir: string;
  topics: TopicSpec[];
  /** Every `.avsc` under the directory, by record full name. */
  schemas: Map<string, SchemaEntry>;
  /** The topic named `name`; throws `SLUICE_CATALOGUE_UNKNOWN_TOPIC` when there is none. */
  topic(name: string): TopicSpec;
}

export interface LoadCatalogueOptions {
  /**
   * avsc logical type implementations. None by default: logical types then decode as their
   * underlying type (`timestamp-millis` as a number of epoch milliseconds, `uuid` as a string).
   */
  logicalTypes?: LogicalTypes;
}

export const catalogueFileName = 'catalogue.json';

/**
 * Loads `<dir>/catalogue.json` and every `.avsc` file under `dir`. Each schema must be one
 * top-level record in a file named after it; every topic's value must name such a record; the
 * subjects must follow the topic's subject strategy. All problems of the cross-checks are
 * reported at once, each line naming the file and field.
 */
export function loadCatalogue(dir: string, options: LoadCatalogueOptions = {}): Catalogue {
  const cataloguePath = join(dir, catalogueFileName);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CatalogueError('SLUICE_CATALOGUE_NOT_FOUND', `${dir}: no such catalogue directory`);
  }
  if (!existsSync(cataloguePath)) {
    throw new CatalogueError('SLUICE_CATALOGUE_NOT_FOUND', `${cataloguePath}: no such file`);
  }
  const raw = readJsonFile(cataloguePath);
  const file = validate(catalogueFileSchema, raw, cataloguePath, (path) => topicLabel(raw, path));
  const schemas = readSchemas(dir, options.logicalTypes ?? {});
  const topics = checkTopics(file, schemas, cataloguePath);
  const byName = new Map(topics.map((t) => [t.name, t]));
  return {
    dir,
    topics,
    schemas,
    topic(name) {
      const spec = byName.get(name);
      if (spec === undefined) {
        throw new CatalogueError(
          'SLUICE_CATALOGUE_UNKNOWN_TOPIC',
          `unknown topic "${name}": the catalogue in ${dir} has no such topic`,
        );
      }
      return spec;
    },
  };
}

/** ` (topic "<name>")` for an issue inside a topic entry that has a name, so the reader finds it. */
function topicLabel(raw: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'topics' || typeof path[1] !== 'number') return '';
  const topics = (raw as { topics?: unknown } | null)?.topics;
  const name = Array.isArray(topics) ? (topics[path[1]] as { name?: unknown } | null)?.name : undefined;
  return typeof name === 'string' && path.length > 2 && path[2] !== 'name' ? ` (topic "${name}")` : '';
}

function readSchemas(dir: string, logicalTypes: LogicalTypes): Map<string, SchemaEntry> {
  const files = findSchemaFiles(dir);
  const raw = files.map((file) => ({ file, ...readSchemaJson(dir, file) }));
  const definedIn = new Map<string, string>();
  const duplicates: string[] = [];
  for (const { file, fullName } of raw) {
    const first = definedIn.get(fullName);
    if (first !== undefined) {
      duplicates.push(`${join(dir, file)}: name: ${fullName} is already defined in ${join(dir, first)}`);
    } else {
      definedIn.set(fullName, file);
    }
  }
  if (duplicates.length > 0) throw new CatalogueError('SLUICE_CATALOGUE_INVALID', duplicates);
  const schemas = new Map<string, SchemaEntry>();
  for (const { file, fullName, json } of raw) {
    schemas.set(fullName, {
      fullName,
      file,
      json,
      type: parseSchema(dir, file, json, definedIn, logicalTypes),
    });
  }
  return schemas;
}

function checkTopics(file: CatalogueFile, schemas: Map<string, SchemaEntry>, path: string): TopicSpec[] {
  const issues: string[] = [];
  const seen = new Set<string>();
  const topics = file.topics.map((entry, i) => {
    const at = `${path}: topics[${i}]`;
    const label = ` (topic "${entry.name}")`;
    if (seen.has(entry.name)) issues.push(`${at}.name: duplicate topic "${entry.name}"`);
    seen.add(entry.name);
    issues.push(...checkValues(entry, schemas, at, label));
    return toTopicSpec(entry);
  });
  if (issues.length > 0) throw new CatalogueError('SLUICE_CATALOGUE_INVALID', issues);
  return topics;
}

function checkValues(
  entry: TopicEntry,
  schemas: Map<string, SchemaEntry>,
  at: string,
  label: string,
): string[] {
  const issues: string[] = [];
  const values = new Set<string>();
  entry.values.forEach((fullName, j) => {
    if (values.has(fullName)) issues.push(`${at}.values[${j}]: duplicate value schema ${fullName}${label}`);
    values.add(fullName);
    const schema = schemas.get(fullName);
    if (schema === undefined) {
      issues.push(`${at}.values[${j}]: no .avsc file defines ${fullName}${label}`);
    } else if (entry.key.field !== undefined && !isStringField(schema.type, entry.key.field)) {
      issues.push(`${at}.key.field: ${fullName} has no string field "${entry.key.field}"${label}`);
    }
  });
  if (entry.subjectStrategy === 'TopicNameStrategy' && entry.values.length > 1) {
    issues.push(
      `${at}.subjectStrategy: TopicNameStrategy allows one value schema per topic, this topic has ${entry.values.length}; use TopicRecordNameStrategy${label}`,
    );
  }
  for (const fullName of entry.values) {
    const expected = subjectName(entry.subjectStrategy, entry.name, fullName);
    const actual = entry.subjects[fullName];
    if (actual === undefined) {
      issues.push(`${at}.subjects: missing the subject of ${fullName} (expected "${expected}")${label}`);
    } else if (actual !== expected) {
      issues.push(
        `${at}.subjects.${fullName}: "${actual}" does not follow ${entry.subjectStrategy}, expected "${expected}"${label}`,
      );
    }
  }
  for (const fullName of Object.keys(entry.subjects)) {
    if (!values.has(fullName))
      issues.push(`${at}.subjects.${fullName}: not one of the topic's values${label}`);
  }
  return issues;
}

function isStringField(type: avro.Type, name: string): boolean {
  const field = (type as avro.types.RecordType).field(name);
  return field !== undefined && field.type.typeName === 'string';
}

function toTopicSpec(entry: TopicEntry): TopicSpec {
  return {
    name: entry.name,
    doc: entry.doc,
    key: { ...entry.key },
    values: [...entry.values],
    subjectStrategy: entry.subjectStrategy,
    subjects: entry.values.map((fullName) => ({
      fullName,
      subject: subjectName(entry.subjectStrategy, entry.name, fullName),
    })),
    partitions: entry.partitions,
    cleanupPolicy: entry.cleanupPolicy,
    retentionMs: entry.retentionMs,
  };
}
