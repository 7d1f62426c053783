// A small root filesystem for tests, built from Debian's busybox-static on this machine (no
// download): /bin/busybox with its applets, /etc/passwd and /etc/group, a marker file. World
// readable, so rootless tests (as nobody) can use it too.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => {
  if (!fs.existsSync(p)) return false;
  // static: it must run inside a rootfs without the host's libraries
  return /statically linked|static-pie/.test(spawnSync('file', ['-L', p]).stdout?.toString() ?? '') || spawnSync('ldd', [p]).status !== 0;
});

export const FIXTURE_MARKER = 'nsrun test rootfs';

export function buildRootfs(): string {
  if (!BUSYBOX) throw new Error('busybox-static is not installed');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsrun-rootfs-'));
  fs.chmodSync(root, 0o755);
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'mnt']) fs.mkdirSync(path.join(root, d), { mode: 0o755 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = spawnSync(BUSYBOX, ['--list']).stdout.toString().trim().split('\n');
  for (const a of applets) if (a && a !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(root, 'etc', 'nsrun-fixture'), `${FIXTURE_MARKER}\n`);
  return root;
}

/** Every path under root with its type and size: two equal listings mean nothing was changed. */
export function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(root, p)} ${st.mode.toString(8)} ${st.size}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}
