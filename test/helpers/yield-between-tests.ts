// Runs before every test file (vitest.config.ts setupFiles). Many tests are synchronous
// (spawnSync of nsrun) or await only settled promises, so a file of them can run for a minute
// without the worker's event loop turning once. vitest's worker talks to the main process over
// that loop: its reply to a task update then waits, and its 60 s RPC timer fires first
// ("[vitest-worker]: Timeout calling onTaskUpdate", an unhandled error that fails the run with
// every test passed). One loop turn after each test lets the replies in.
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
