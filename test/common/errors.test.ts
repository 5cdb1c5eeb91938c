import test from 'ava';
import { constants } from 'node:os';
import { errnoOf, isErrorCode, MosaicError, nbdErrorOf, posixCodeOf, type ErrorCode, type PosixCode } from '../../common/errors.js';

const errno = constants.errno as Record<string, number>;
const errnoNumber = (code: string): number => errno[code] ?? -1;

// What a FUSE caller sees for each code: POSIX codes as themselves, Mosaic codes by the table.
const POSIX_OF: [ErrorCode, PosixCode][] = [
  ['ENOENT', 'ENOENT'], ['EEXIST', 'EEXIST'], ['ENOTEMPTY', 'ENOTEMPTY'], ['EIO', 'EIO'],
  ['ENOSPC', 'ENOSPC'], ['EACCES', 'EACCES'], ['EDQUOT', 'EDQUOT'], ['ENAMETOOLONG', 'ENAMETOOLONG'],
  ['EAUTH', 'EACCES'], ['ECORRUPT', 'EIO'], ['EVERSION', 'ESTALE'], ['EUNAVAIL', 'EIO'],
  ['EBADFRAME', 'EPROTO'], ['EUNKNOWNMETHOD', 'ENOSYS'], ['ECLOSED', 'EIO'], ['EOVERLOAD', 'EAGAIN'],
];

for (const [code, posix] of POSIX_OF) {
  test(`${code} reaches a FUSE caller as ${posix}`, (t) => {
    t.is(posixCodeOf(code), posix);
    t.is(errnoOf(new MosaicError(code, 'x')), errnoNumber(posix));
  });
}

test('errnoOf pins the Linux numbers the kernel expects', (t) => {
  t.is(errnoOf(MosaicError.notFound('file')), 2);
  t.is(errnoOf(new MosaicError('EEXIST', 'x')), 17);
  t.is(errnoOf(new MosaicError('ENOTEMPTY', 'x')), 39);
  t.is(errnoOf(new MosaicError('ENOSPC', 'x')), 28);
  t.is(errnoOf(new MosaicError('EAUTH', 'x')), 13);
});

test('errors that are not MosaicErrors keep a known code or become EIO', (t) => {
  const systemError = Object.assign(new Error('open failed'), { code: 'ENOSPC' });
  t.is(MosaicError.from(systemError).code, 'ENOSPC');
  t.is(errnoOf(systemError), errnoNumber('ENOSPC'));
  t.is(MosaicError.from(Object.assign(new Error('odd'), { code: 'ERR_SOMETHING' })).code, 'EIO');
  t.is(MosaicError.from(new TypeError('bug')).code, 'EIO');
  t.is(MosaicError.from('a string').code, 'EIO');
  t.is(MosaicError.from(undefined).code, 'EIO');
  t.is(MosaicError.from(null).code, 'EIO');
  const original = new MosaicError('EROFS', 'read-only');
  t.is(MosaicError.from(original), original);
  t.is(MosaicError.from(systemError).cause, systemError);
});

test('message carries the code, detail what travels on the wire', (t) => {
  const error = new MosaicError('ENOENT', '/a/b not found');
  t.is(error.message, 'ENOENT: /a/b not found');
  t.is(error.detail, '/a/b not found');
  t.is(error.name, 'MosaicError');
  t.true(error instanceof Error);
  t.is(MosaicError.invalid('x').code, 'EINVAL');
  t.is(MosaicError.badFrame('x').code, 'EBADFRAME');
  t.is(MosaicError.corrupt('slot').code, 'ECORRUPT');
  t.is(MosaicError.timeout('call', 5).code, 'ETIMEDOUT');
});

test('only codes without a verdict are retryable', (t) => {
  for (const code of ['ETIMEDOUT', 'ECONNREFUSED', 'ECONNRESET', 'ECLOSED', 'EOVERLOAD', 'EAGAIN', 'ENOTCONN'] as const) {
    t.true(new MosaicError(code, 'x').retryable, code);
  }
  for (const code of ['ENOENT', 'EIO', 'EAUTH', 'EINVAL', 'ECORRUPT', 'EBADFRAME', 'ENOSPC', 'EUNKNOWNMETHOD'] as const) {
    t.false(new MosaicError(code, 'x').retryable, code);
  }
});

test('isErrorCode accepts POSIX and Mosaic codes only', (t) => {
  for (const value of ['ENOENT', 'EIO', 'EAUTH', 'EOVERLOAD', 'ECONNREFUSED']) t.true(isErrorCode(value), value);
  for (const value of ['enoent', 'ENOPE', '', 5, null, undefined, {}, 'toString', '__proto__']) t.false(isErrorCode(value), String(value));
});

test('nbdErrorOf maps to the NBD protocol error values', (t) => {
  const table: [ErrorCode, number][] = [
    ['EPERM', 1], ['EROFS', 1], ['EACCES', 1], ['EAUTH', 1], ['ENOMEM', 12], ['EINVAL', 22], ['ERANGE', 22],
    ['EOVERFLOW', 75], ['ENOTCONN', 108], ['ENOSPC', 28], ['EDQUOT', 28], ['EFBIG', 28], ['ENOTSUP', 95], ['ENOSYS', 95],
    ['EUNKNOWNMETHOD', 95], ['EIO', 5], ['ECORRUPT', 5], ['ENOENT', 5], ['ETIMEDOUT', 5], ['ECLOSED', 5],
  ];
  for (const [code, nbd] of table) t.is(nbdErrorOf(new MosaicError(code, 'x')), nbd, code);
  t.is(nbdErrorOf(new TypeError('bug')), 5);
});
