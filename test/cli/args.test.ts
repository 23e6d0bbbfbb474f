import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { integerArg, nonNegativeInteger, numberArg, positiveInteger, positiveNumber, scoreArg, secondsArg } from '../../src/cli/args.ts';

function refusal(parse: (v: string) => number, value: string): string {
  try {
    parse(value);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`${JSON.stringify(value)} was accepted`);
}

test('integer parsers take decimal digits within their bounds and say what they expected otherwise', () => {
  assert.equal(positiveInteger('12'), 12);
  assert.equal(positiveInteger(' 3 '), 3);
  for (const bad of ['0', '-1', '1.5', '1e3', '', 'big', '9007199254740993']) assert.equal(refusal(positiveInteger, bad), 'expected a positive integer');
  assert.equal(nonNegativeInteger('0'), 0);
  assert.equal(refusal(nonNegativeInteger, '-2'), 'expected a non-negative integer');
  assert.equal(integerArg()('-7'), -7);
  assert.equal(refusal(integerArg(), 'x'), 'expected an integer');
  const batch = integerArg({ min: 1, max: 1024 });
  assert.equal(batch('1024'), 1024);
  assert.equal(refusal(batch, '1025'), 'expected an integer in [1, 1024]');
  assert.equal(refusal(integerArg({ min: 0, max: 65535, expected: 'a TCP port' }), '70000'), 'expected a TCP port');
});

test('number parsers take finite numbers within their bounds, open or closed at the bottom', () => {
  assert.equal(positiveNumber('4e-3'), 0.004);
  for (const bad of ['0', '-0.1', '', 'NaN', 'Infinity']) assert.equal(refusal(positiveNumber, bad), 'expected a positive number');
  const share = numberArg({ min: 0, max: 1 });
  assert.equal(share('0'), 0);
  assert.equal(share('1'), 1);
  assert.equal(refusal(share, '1.01'), 'expected a number in [0, 1]');
  const score = numberArg({ min: 0, minExclusive: true, max: 1 });
  assert.equal(refusal(score, '0'), 'expected a number in (0, 1]');
  assert.equal(refusal(numberArg({ min: 0 }), '-1'), 'expected a number ≥ 0');
  assert.equal(refusal(numberArg({ min: 2 }), '1'), 'expected a number ≥ 2');
  assert.equal(refusal(numberArg({ max: 2 }), '3'), 'expected a number ≤ 2');
  assert.equal(refusal(numberArg({ min: 2, minExclusive: true }), '2'), 'expected a number > 2');
  assert.equal(scoreArg('1'), 1);
  assert.equal(refusal(scoreArg, '0'), 'expected a score in (0, 1]');
  assert.equal(secondsArg('0.5'), 0.5);
  assert.equal(refusal(secondsArg, '-1'), 'expected a number of seconds ≥ 0');
});

test('commander names the option and the refused value before the expectation', () => {
  let err = '';
  const program = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => (err += s) })
    .option('--steps <n>', 'steps', positiveInteger);
  assert.throws(() => program.parse(['--steps', 'big'], { from: 'user' }));
  assert.match(err, /option '--steps <n>' argument 'big' is invalid\. expected a positive integer/);
});
