/**
 * Whether a place can still run commands. Teardown of a half-built or half-removed cluster must
 * not fail on a node whose place is already gone: there is nothing left to remove there.
 */
import type { Place } from '../node/place.ts';

/** How long a place may take to run `true` before it counts as gone. */
const ALIVE_TIMEOUT_MS = 10_000;

/**
 * True when a trivial command runs in the place. Asked through the place itself, so it holds for
 * whatever the provider made the place of (a namespace, a container, a VM).
 */
export async function placeAlive(place: Place): Promise<boolean> {
  try {
    const r = await place.exec(['true'], { reject: false, timeoutMs: ALIVE_TIMEOUT_MS });
    return r.exitCode === 0;
  } catch {
    // The wrapper itself could not start or timed out: the place cannot be acted in.
    return false;
  }
}
