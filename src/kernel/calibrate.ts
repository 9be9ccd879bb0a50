/**
 * Measuring a machine's speed for the time scale: the same small piece of work timed on the host
 * and in the VM. The work is what the suites' budgets wait for: Node starting, loading the
 * modules an agent and a metrics server load (through the shared root, in a VM), and running
 * JavaScript. The ratio of the two times is how much longer the budgets must be. (Hashing would
 * mislead: emulated vector instructions are far slower than everything else.)
 */
import { REPO_ROOT } from '../dataplane/bpf/build.ts';
import { run } from '../sys/exec.ts';
import { DEFAULT_COMPILE_CACHE_DIR } from '../workload/agent-process.ts';

/** The calibration work, an ES module evaluated by a fresh Node in the repository. */
export const CALIBRATION_SOURCE =
  "await import('undici');await import('prom-client');let x=0;for(let i=0;i<3e6;i++)x+=i%7;if(x<0)process.exit(1);";

/** How long the calibration work takes here, in ms: the fastest of a few tries. */
export async function calibrationMs(tries = 3, node: string = process.execPath): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < tries; i++) {
    const started = performance.now();
    // With the compile cache, as the agents and metrics servers whose start this stands for.
    await run([node, '--input-type=module', '-e', CALIBRATION_SOURCE], {
      timeoutMs: 300_000,
      cwd: REPO_ROOT,
      env: { NODE_COMPILE_CACHE: DEFAULT_COMPILE_CACHE_DIR },
    });
    best = Math.min(best, performance.now() - started);
  }
  return Math.round(best);
}
