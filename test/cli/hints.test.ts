// Errors that can be forced on this machine, each with the hint that explains it. The forcing
// happens inside throwaway user namespaces (unshare), so the host is never changed.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { NSRUN } from '../helpers/cli';
import { gated, isRoot, unprivilegedUserns } from '../helpers/caps';

const can = isRoot && unprivilegedUserns;

function inUserns(unshareArgs: string[], setup: string, nsrunArgs: string) {
  return spawnSync('unshare', [...unshareArgs, 'sh', '-c', `${setup}exec "${process.execPath}" "${NSRUN}" ${nsrunArgs}`], { encoding: 'utf8', cwd: '/' });
}

describe.skipIf(!can)(gated(can, 'forced errors and their hints', 'needs root, unshare and user namespaces'), () => {
  test('clone EPERM: an unmapped caller cannot create namespaces', () => {
    const r = inUserns(['-U'], '', '--user -- true');
    expect(r.stderr).toBe(
      'nsrun: clone: user namespaces: Operation not permitted\n' +
        'hint: you run as uid 65534, which is not mapped in your user namespace (see /proc/self/uid_map): only mapped ids may create namespaces\n',
    );
    expect(r.status).toBe(125);
  });

  test('clone ENOSPC: user.max_user_namespaces is 0', () => {
    const r = inUserns(['-Ur'], 'echo 0 > /proc/sys/user/max_user_namespaces && ', '--user -- true');
    expect(r.stderr).toBe(
      'nsrun: clone: user namespaces: No space left on device\n' +
        'hint: user namespaces are disabled: user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)\n',
    );
  });

  test('id-map EPERM: root inside a user namespace maps ids it does not have', () => {
    const r = inUserns(['-Ur'], '', '--map-users 100000:0:10 --map-groups 100000:0:10 -- true');
    expect(r.stderr).toMatch(/^nsrun: id-map: \/proc\/\d+\/uid_map: Operation not permitted\n/);
    expect(r.stderr.split('\n')[1]).toBe('hint: you are root inside a user namespace: only ids mapped in it (see /proc/self/uid_map) can be mapped into a new one');
    expect(r.status).toBe(125);
  });
});
