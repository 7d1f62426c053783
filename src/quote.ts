// Printing a command line so it can be pasted back into a shell.

/** argv as a POSIX shell would need it typed: words with shell metacharacters single-quoted. */
export function quoteArgv(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
