// Each namespace type is isolated when asked for and shared when not: compare /proc/self/ns/*
// inside the sandbox with the host's, as root and as an unprivileged user.
import { describe, expect, test } from 'vitest';
import { NAMESPACE_FLAGS } from '../../src/linux';
import { hostNamespaces, nsrun } from '../helpers/cli';
import { gated, isRoot, NOBODY, unprivilegedUserns } from '../helpers/caps';

const host = hostNamespaces();
const types = NAMESPACE_FLAGS.filter((f) => host[f.type] !== undefined);

function inside(args: string[], asUser?: typeof NOBODY): Record<string, string> {
  const r = nsrun([...args, '--', 'sh', '-c', 'for t in user pid mnt uts ipc net cgroup time; do [ -e /proc/self/ns/$t ] && echo $t=$(readlink /proc/self/ns/$t); done'], { asUser });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

function expectIsolation(ns: Record<string, string>, isolated: string[]) {
  for (const t of Object.keys(host)) {
    if (isolated.includes(t)) expect(ns[t], `${t} should be isolated`).not.toBe(host[t]);
    else expect(ns[t], `${t} should be shared`).toBe(host[t]);
  }
}

describe.skipIf(!isRoot)(gated(isRoot, 'namespaces as root', 'needs root'), () => {
  test.each(types.map((f) => [f.long, f.short, f.type]))('--%s (-%s) isolates only %s', (long, _short, type) => {
    const expected = type === 'pid' ? ['pid', 'mnt'] : [type];
    expectIsolation(inside([`--${long}`]), expected);
  });
  test.each(types.map((f) => [f.short, f.type]))('short flag -%s works', (short, type) => {
    expect(inside([`-${short}`])[type]).not.toBe(host[type]);
  });
  test('--all isolates every type the kernel has', () => {
    expectIsolation(inside(['--all']), Object.keys(host));
  });
  test('no flags: everything shared', () => {
    expectIsolation(inside([]), []);
  });
});

describe.skipIf(!unprivilegedUserns)(gated(unprivilegedUserns, 'namespaces rootless', 'needs root to switch to nobody, and unprivileged user namespaces'), () => {
  test.each(types.filter((f) => f.type !== 'user').map((f) => [f.long, f.type]))('--%s as nobody adds a user namespace', (long, type) => {
    const expected = type === 'pid' ? ['user', 'pid', 'mnt'] : ['user', type];
    expectIsolation(inside([`--${long}`], NOBODY), expected);
  });
  test('--all as nobody', () => {
    expectIsolation(inside(['--all'], NOBODY), Object.keys(host));
  });
});
