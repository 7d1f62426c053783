// For tests of bad input: the NsrunError a call throws (anything else, or no error, fails the test).
import { isNsrunError, type NsrunError } from '../../src/errors';

export function nsrunError(fn: () => unknown): NsrunError {
  try {
    fn();
  } catch (e) {
    if (isNsrunError(e)) return e;
    throw e;
  }
  throw new Error('expected an NsrunError, but nothing was thrown');
}
