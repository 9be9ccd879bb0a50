/**
 * Teardown on Ctrl-C and SIGTERM: every started cluster registers its teardown here, so an
 * interrupted run still leaves nothing behind.
 */

type Teardown = () => Promise<void>;

const pending = new Set<Teardown>();
let installed = false;
let exiting = false;

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (exiting) return;
  exiting = true;
  process.stderr.write(`\n${signal}: tearing down ${pending.size} cluster(s)...\n`);
  for (const t of [...pending].reverse()) {
    try {
      await t();
    } catch (err) {
      process.stderr.write(`teardown failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Registers a teardown to run if the process is interrupted; returns the function that unregisters it. */
export function onInterrupt(teardown: Teardown): () => void {
  if (!installed) {
    installed = true;
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => void onSignal(s));
  }
  pending.add(teardown);
  return () => {
    pending.delete(teardown);
  };
}
