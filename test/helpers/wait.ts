// Waiting in tests for something the kernel or a sandbox does asynchronously.

/** Calls `probe` every `everyMs` until it returns something other than undefined, null or false, and returns that. */
export async function poll<T>(probe: () => T | undefined | null | false, what = 'condition', ms = 10_000, everyMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
