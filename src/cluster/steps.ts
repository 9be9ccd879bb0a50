/**
 * Bring-up as an ordered list of steps, each knowing how to undo itself: when a step fails, the
 * steps already done are undone in reverse, so a half-built cluster never stays behind.
 */

/** One step of a bring-up. */
export interface Step {
  /** Shown in progress output and in the error when the step fails. */
  name: string;
  run(): Promise<void>;
  /** Removes what `run` made; called in reverse order when a later step fails. */
  undo?(): Promise<void>;
}

/** A bring-up that failed at a named step (after everything before it was undone). */
export class StepError extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StepError';
    this.step = step;
  }
}

/**
 * Runs the steps in order. On failure undoes the completed ones in reverse and throws a
 * {@link StepError}; undo failures are reported through `log` rather than hiding the first error.
 */
export async function runSteps(
  steps: readonly Step[],
  log: (line: string) => void = () => {},
): Promise<void> {
  const done: Step[] = [];
  for (const step of steps) {
    try {
      await step.run();
      done.push(step);
    } catch (err) {
      // The step itself may have half-run: undo it too.
      for (const s of [step, ...done.reverse()]) {
        try {
          await s.undo?.();
        } catch (undoErr) {
          log(`undo of "${s.name}" failed: ${undoErr instanceof Error ? undoErr.message : String(undoErr)}`);
        }
      }
      throw new StepError(step.name, err);
    }
  }
}
