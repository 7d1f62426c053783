import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native code and real processes: each test file in its own process, never worker threads.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/yield-between-tests.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
