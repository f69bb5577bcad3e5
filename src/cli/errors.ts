/**
 * How a command fails. The dispatcher prints the message to stderr and exits with the status:
 *   StatusError(code, msg)   any status (docker's cli.StatusError); 125 for run/create-type daemon failures
 *   FlagError                flag parsing failed: message + usage hint, exit 125
 *   ArgsError                wrong number of arguments: "berth: 'berth x' requires ..." + usage hint, exit 1
 * Errors from the client (ApiError, DaemonConnectError) are printed as docker prints them, exit 1.
 */
export class UsageStatusError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** docker's cli.StatusError: print `message` (if any) and exit with `status`. */
export class StatusError extends UsageStatusError {}

export class FlagError extends Error {}

export class ArgsError extends Error {
  /** "See" for minimum-argument errors, "Run" otherwise (docker's wording differs by check) */
  constructor(message: string, readonly hintVerb: 'See' | 'Run' = 'Run') {
    super(message);
  }
}

/** A user-cancelled prompt: exit 0 silently, as docker does. */
export class CancelledError extends Error {}
