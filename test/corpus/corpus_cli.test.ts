import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { corpusCommand, type CorpusCommandIo } from '../../src/cli/corpus.ts';

interface Captured extends CorpusCommandIo {
  out: string[];
  err: string[];
}

function capture(isTTY = false): Captured {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t), isTTY } };
}

async function run(io: Captured, args: string[]): Promise<void> {
  const program = new Command('distillery').addCommand(corpusCommand(io));
  // Parse errors must throw here, not exit the test process; commander does not pass these settings down.
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeErr: (t) => io.err.push(t), writeOut: (t) => io.out.push(t) });
    c.commands.forEach(quiet);
  };
  quiet(program);
  await program.parseAsync(['corpus', 'generate', ...args], { from: 'user' });
}

test('corpus generate writes a tiny corpus, logs progress without a TTY, prints a summary, and is idempotent', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-cli-corpus-'));
  try {
    const out = path.join(dir, 'corpus');
    const args = ['--out', out, '--seed', '3', '--labeled', '4', '--test', '3', '--unlabeled', '10', '--empty-share', '0.4', '--workers', '0'];
    const io = capture();
    await run(io, args);
    assert.deepEqual((await readdir(out)).sort(), ['labeled', 'manifest.json', 'test', 'unlabeled']);
    assert.equal((await readdir(path.join(out, 'unlabeled', 'images'))).length, 10);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { seed: number; splits: { unlabeled: { emptyImages: number } } };
    assert.equal(manifest.seed, 3);
    assert.equal(manifest.splits.unlabeled.emptyImages, 4);
    const log = io.err.join('');
    assert.match(log, /corpus: 17\/17 images \(100%\), unlabeled split/);
    const summary = io.out.join('');
    assert.match(summary, /seed 3, generated in \d+\.\d s/);
    assert.match(summary, /unlabeled\s+shifted\s+10\s+40\.0%/);
    assert.match(summary, /total\s+17\s/);

    const again = capture();
    await run(again, args);
    assert.match(again.out.join(''), /up to date/);

    const changed = capture();
    await assert.rejects(run(changed, [...args.slice(0, -4), '--workers', '0']), /different corpus .*emptyShare: 0\.4 → 0\.3.*--force/);
    await run(changed, [...args.slice(0, -4), '--workers', '0', '--force']);
    const forced = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { splits: { unlabeled: { emptyImages: number } } };
    assert.equal(forced.splits.unlabeled.emptyImages, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('corpus generate rejects malformed numbers before doing anything', async () => {
  const io = capture();
  await assert.rejects(run(io, ['--out', path.join(os.tmpdir(), 'never-written'), '--labeled', 'ten']), /expected an integer/);
  await assert.rejects(run(io, ['--out', path.join(os.tmpdir(), 'never-written'), '--empty-share', '1.2']), /expected a number in \[0, 1\]/);
  await assert.rejects(run(io, ['--out', path.join(os.tmpdir(), 'never-written'), '--labeled', '-2']), /images\.labeled/);
});

test('corpus generate --topology writes into the topology\'s store under corpus/ (where the topologies look); --prefix moves it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distillery-cli-corpus-'));
  try {
    const root = path.join(dir, 'store');
    const topology = path.join(dir, 'local.yaml');
    await writeFile(
      topology,
      `name: t\nconfig:\n  store: { kind: local, root: ${JSON.stringify(root)} }\nstages:\n  - { name: ingest, kind: ingest, options: { prefix: corpus/unlabeled/images/, split: unlabeled } }\n`,
    );
    const tiny = ['--labeled', '2', '--test', '2', '--unlabeled', '3', '--workers', '0'];
    const io = capture();
    await run(io, ['--topology', topology, ...tiny]);
    assert.match(io.out.join(''), /total\s+7\s/);
    assert.deepEqual((await readdir(path.join(root, 'corpus'))).sort(), ['labeled', 'manifest.json', 'test', 'unlabeled']);
    assert.ok((await readdir(path.join(root, 'corpus', 'labeled'))).includes('annotations.json'));
    assert.equal((await readdir(path.join(root, 'corpus', 'unlabeled', 'images'))).length, 3);

    const again = capture();
    await run(again, ['--topology', topology, ...tiny]);
    assert.match(again.out.join(''), /corpus at file:\/\/.*\/store\/corpus is up to date/);

    // --set reaches the topology like in every other command.
    const other = path.join(dir, 'other');
    await run(capture(), ['--topology', topology, '--set', `config.store.root=${other}`, '--prefix', 'alt', ...tiny]);
    assert.deepEqual((await readdir(path.join(other, 'alt'))).sort(), ['labeled', 'manifest.json', 'test', 'unlabeled']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('corpus generate refuses --out with --topology, and --set without --topology', async () => {
  const io = capture();
  await assert.rejects(run(io, ['--out', path.join(os.tmpdir(), 'never-written'), '--topology', 'topologies/embedded.yaml']), /--out and --topology both name where to write: pass one of them/);
  await assert.rejects(run(io, ['--out', path.join(os.tmpdir(), 'never-written'), '--set', 'config.store.root=x']), /--set overrides a topology field: it needs --topology/);
});
