/**
 * Teardown on Ctrl-C and SIGTERM: every started cluster registers its teardown here, so an
 * interrupted run still leaves nothing behind. The signal handlers exist only while a cluster
 * is registered, so a process with no cluster keeps the default behaviour.
 */

type Teardown = () => Promise<void>;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const pending = new Set<Teardown>();
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

const handler = (signal: NodeJS.Signals) => void onSignal(signal);

/** Registers a teardown to run if the process is interrupted; returns the function that unregisters it. */
export function onInterrupt(teardown: Teardown): () => void {
  if (pending.size === 0) for (const s of SIGNALS) process.on(s, handler);
  pending.add(teardown);
  return () => {
    pending.delete(teardown);
    if (pending.size === 0 && !exiting) for (const s of SIGNALS) process.off(s, handler);
  };
}
