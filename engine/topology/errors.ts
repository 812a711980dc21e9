import { SluiceError } from '../errors.js';

/** A topology that cannot run: every problem found, one per line in the message and in `issues`. */
export class TopologyError extends SluiceError {
  readonly issues: readonly string[];

  constructor(issues: string[], code = 'SLUICE_TOPOLOGY_INVALID') {
    super(code, issues.length === 1 ? issues[0]! : `invalid topology:\n - ${issues.join('\n - ')}`);
    this.issues = issues;
  }
}

/** An operator refused a record (late beyond grace, or invalid for it): the record is dead-lettered. */
export class RecordRejectedError extends SluiceError {
  constructor(reason: 'late' | 'invalid', message: string) {
    super(reason === 'late' ? 'SLUICE_RECORD_LATE' : 'SLUICE_RECORD_INVALID', message);
  }
}

/** Bytes that a serde could not turn into a value (or a value it could not turn into bytes). */
export class SerdeError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_SERDE', message, { cause });
  }
}
