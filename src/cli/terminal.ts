// The CLI's side of a 'pty' sandbox: relay the caller's terminal to the sandbox's pty in raw
// mode, follow window-size changes, and turn a job-control stop inside into a stop of nsrun
// itself, so Ctrl-Z and fg behave as with any command. The caller's terminal mode is restored
// by the returned function on every exit path.
import type * as tty from 'node:tty';
import type { Sandbox } from '../sandbox';

export function attachTerminal(sb: Sandbox): () => void {
  const stdin = process.stdin as tty.ReadStream;
  const stdout = process.stdout as tty.WriteStream;
  const term = sb.terminal!;
  let raw = false;
  const setRaw = (on: boolean) => {
    if (raw === on) return;
    stdin.setRawMode(on);
    raw = on;
  };
  setRaw(true);
  stdin.on('data', (d: Buffer) => term.write(d));
  stdin.resume();
  term.on('data', (d: Buffer) => stdout.write(d));
  const onResize = () => sb.resize(stdout.rows, stdout.columns);
  stdout.on('resize', onResize);
  sb.on('stop', () => {
    // The command stopped (Ctrl-Z on a non-shell): hand the terminal back and stop ourselves.
    // process.kill returns once a SIGCONT (fg/bg) has resumed us.
    setRaw(false);
    process.kill(process.pid, 'SIGTSTP');
    setRaw(true);
    onResize();
    sb.resume();
  });
  return () => {
    stdout.off('resize', onResize);
    setRaw(false);
    stdin.pause();
    stdin.removeAllListeners('data');
  };
}
