import type avro from 'avsc';
import type { CompatibilityLevel } from './records.js';

/**
 * Avro schema compatibility, decided by avsc's schema resolution: `reader.createResolver(writer)`
 * throws exactly when data written with `writer` cannot be read with `reader` (missing defaults,
 * unreadable union branches, unknown enum symbols without a default, narrowing promotions...).
 *
 *  - BACKWARD: the new schema can read data written with the previous one (consumers upgrade first);
 *  - FORWARD: the previous schema can read data written with the new one (producers upgrade first);
 *  - FULL: both; `_TRANSITIVE` checks every live previous version instead of the latest only;
 *  - NONE: anything goes.
 *
 * Names are compared without namespaces, as Avro's Java SchemaCompatibility does.
 */

export interface PreviousVersion {
  version: number;
  type: avro.Type;
}

function canRead(reader: avro.Type, writer: avro.Type): string | null {
  try {
    reader.createResolver(writer, { ignoreNamespaces: true });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Why `candidate` is not compatible with `previous` (oldest first) under `level`; an empty
 * list means it is compatible.
 */
export function compatibilityErrors(
  level: CompatibilityLevel,
  candidate: avro.Type,
  previous: PreviousVersion[],
): string[] {
  if (level === 'NONE' || previous.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? previous : previous.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const errors: string[] = [];
  for (const p of [...against].reverse()) {
    if (backward) {
      const why = canRead(candidate, p.type);
      if (why) errors.push(`the new schema cannot read data written with version ${p.version}: ${why}`);
    }
    if (forward) {
      const why = canRead(p.type, candidate);
      if (why) errors.push(`version ${p.version} cannot read data written with the new schema: ${why}`);
    }
  }
  if (errors.length > 0) errors.push(`{compatibility: '${level}'}`);
  return errors;
}
