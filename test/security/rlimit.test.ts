// --rlimit NAME=SOFT[:HARD]: set in the sandbox with prlimit64 just before exec, seen by the
// command through ulimit and /proc/self/limits; a hard limit raised without the privilege to do
// so fails with the reason and a hint.
import * as fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { gated, hasPython, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';
import { nsrun } from '../helpers/cli';

const who = [...(isRoot ? [['root', undefined] as const] : []), ...(unprivilegedUserns ? [['nobody', NOBODY] as const] : [])];
const REASON = 'needs root, or setpriv and unprivileged user namespaces';
const limitsLine = (out: string, title: string) => out.split('\n').find((l) => l.startsWith(title))?.slice(26).trim().split(/\s+/).slice(0, 2);
const capSysResource = isRoot && (BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`) & (1n << 24n)) !== 0n;
const ownHardNofile = Number(limitsLine(fs.readFileSync('/proc/self/limits', 'utf8'), 'Max open files')![1]);

describe.skipIf(who.length === 0)(gated(who.length > 0, '--rlimit', REASON), () => {
  test.each(who)('as %s: soft and hard limits as asked, sizes with suffixes, unlimited, one value for both', (_n, user) => {
    const r = nsrun(
      ['--pid', '--rlimit', 'nofile=64:128', '--rlimit', 'core=0', '--rlimit', 'fsize=1M:unlimited', '--rlimit', 'NPROC=500', '--rlimit', 'as=unlimited',
        '--', 'sh', '-c', 'ulimit -Sn; ulimit -Hn; ulimit -c; cat /proc/self/limits'],
      { asUser: user },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [soft, hard, core] = r.stdout.split('\n');
    expect([soft, hard, core]).toEqual(['64', '128', '0']);
    expect(limitsLine(r.stdout, 'Max file size')).toEqual(['1048576', 'unlimited']);
    expect(limitsLine(r.stdout, 'Max processes')).toEqual(['500', '500']);
    expect(limitsLine(r.stdout, 'Max address space')).toEqual(['unlimited', 'unlimited']);
  });

  test.skipIf(!hasPython).each(who)('as %s: the limits hold inside: the 9th fd fails with EMFILE, a write past fsize=1k with EFBIG', (_n, user) => {
    const py = [
      'import errno, os, signal, tempfile',
      'fds = []',
      'try:',
      '    while True: fds.append(os.open("/dev/null", os.O_RDONLY))',
      'except OSError as e: print(len(fds) + 3, errno.errorcode[e.errno])',
      'for fd in fds: os.close(fd)',
      'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)',
      'f = tempfile.TemporaryFile()',
      'try: os.write(f.fileno(), b"x" * 1024); os.write(f.fileno(), b"x")',
      'except OSError as e: print(os.fstat(f.fileno()).st_size, errno.errorcode[e.errno])',
    ].join('\n');
    const r = nsrun(['--pid', '--rlimit', 'nofile=8', '--rlimit', 'fsize=1k', '--', 'python3', '-c', py], { asUser: user });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('8 EMFILE\n1024 EFBIG\n');
  });

  test.each(who)('as %s: raising the hard limit above nsrun\'s own needs privilege outside a user namespace', (_n, user) => {
    const r = nsrun(['--pid', '--rlimit', `nofile=10:${ownHardNofile + 1}`, '--', 'true'], { asUser: user });
    expect(r.status).toBe(125);
    expect(r.stderr).toBe(
      `nsrun: rlimit: nofile=10:${ownHardNofile + 1}: Operation not permitted\n` +
        `hint: raising a hard limit (nsrun's own hard limit is ${ownHardNofile}) needs CAP_SYS_RESOURCE outside any user namespace (root inside one does not count): ask for a lower hard limit, or run as root without a user namespace\n`,
    );
  });

  test.skipIf(!capSysResource)(gated(capSysResource, 'as root without a user namespace, the hard limit can be raised', 'needs CAP_SYS_RESOURCE, which this root lacks'), () => {
    const r = nsrun(['--pid', '--rlimit', `nofile=10:${ownHardNofile + 1}`, '--', 'sh', '-c', 'ulimit -Hn']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${ownHardNofile + 1}\n`);
  });

  test('--explain shows each limit as a prlimit step', () => {
    const r = nsrun(['--explain', '--rlimit', 'nofile=64:128', '--rlimit', 'core=0', '--', 'true']);
    expect(r.stderr).toContain('rlimit          prlimit(RLIMIT_NOFILE, soft 64, hard 128)   [prlimit(2), getrlimit(2)]');
    expect(r.stderr).toContain('rlimit          prlimit(RLIMIT_CORE, soft 0, hard 0)');
  });
});
