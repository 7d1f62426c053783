// scripts/build-native.js: with musl-gcc installed, the two programs that stay in memory while a
// sandbox runs (nsrun-init inside it, nsrun-supervise on the host) are musl builds, not glibc's.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { gated } from '../helpers/caps';
import { ROOT } from '../helpers/cli';

const hasMusl = spawnSync('sh', ['-c', 'command -v musl-gcc']).status === 0;

describe.skipIf(!hasMusl)(gated(hasMusl, 'musl builds', 'musl-gcc is not installed (Debian: musl-tools)'), () => {
  for (const name of ['nsrun-init', 'nsrun-supervise']) {
    test(`${name} is static, without glibc, and small`, () => {
      const bin = fs.readFileSync(path.join(ROOT, 'build', 'Release', name));
      expect(bin.includes('ld-linux')).toBe(false); // no program interpreter: static
      expect(bin.includes('GLIBC')).toBe(false);
      expect(bin.length).toBeLessThan(200 * 1024); // glibc's static build is ~770 KB
    });
  }
});
