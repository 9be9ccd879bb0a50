/**
 * The program a dpconform VM's init runs (inside the host's root, chrooted): performs the job
 * file named on its command line. See guest.ts.
 */
import { runGuestJob } from './guest.ts';

process.exitCode = await runGuestJob(process.argv[2] ?? '');
