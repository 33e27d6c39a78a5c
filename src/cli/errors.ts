/** The CLI's failures and exit codes: shared by the command model and the API client, which import nothing of each other. */

/** A failure the user should see as one line (`berth: <message>`), exiting with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = 1) {
    super(message)
    this.name = "CliError"
  }
}

/** Exit codes: 0 done (ready, accepted), 1 error or failed/cancelled/rejected, 2 timed out waiting. */
export const exitCodes = { ok: 0, failed: 1, timedOut: 2 } as const
