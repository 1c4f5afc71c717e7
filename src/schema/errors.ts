/**
 * Every error sigframe raises on bad input is one of these: it says what was expected and, where a
 * byte buffer is involved, at which offset. The CLI maps them to exit code 2 and a one-line
 * message; nothing here should ever surface as a stack trace.
 */
export interface ErrorWhere {
  /** Member path (`sigcontext_64.fpstate`), file line, or JSON path. */
  readonly path?: string;
  /** Byte offset into the input buffer, when the problem is located in bytes. */
  readonly offset?: number;
}

export class SigframeError extends Error {
  readonly where: ErrorWhere;
  constructor(message: string, where: ErrorWhere = {}) {
    super(message);
    this.name = new.target.name;
    this.where = where;
  }
}

/** Misuse of a schema (unknown member path, value of the wrong type or range). */
export class SchemaError extends SigframeError {}

/** Input bytes too short or inconsistent for the struct being decoded. */
export class DecodeError extends SigframeError {}

/** Malformed text or JSON input (CPUID dumps, profile files). */
export class InputError extends SigframeError {}
