// Finding tfjs-node packages and whether their addon is built, on a fake node_modules tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { installedTensorflowPackage, tfjsNodeInstalls } from '../../src/backend/tfjs_node_install.ts';

test('a package counts as installed only with its addon built; the GPU build is preferred', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'distillery-tfjs-node-'));
  try {
    const resolve = (specifier: string): string => {
      const file = path.join(root, specifier);
      if (!existsSync(file)) throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
      return file;
    };
    const install = async (pkg: string, withAddon: boolean): Promise<void> => {
      await mkdir(path.join(root, pkg, 'lib/napi-v8'), { recursive: true });
      await writeFile(path.join(root, pkg, 'package.json'), '{"version": "4.22.0"}');
      if (withAddon) await writeFile(path.join(root, pkg, 'lib/napi-v8/tfjs_binding.node'), '');
    };
    assert.equal(installedTensorflowPackage(resolve), undefined, 'nothing installed');
    assert.deepEqual(tfjsNodeInstalls(resolve), [
      { package: '@tensorflow/tfjs-node-gpu', addonBuilt: false },
      { package: '@tensorflow/tfjs-node', addonBuilt: false },
    ]);
    await install('@tensorflow/tfjs-node', false);
    assert.equal(installedTensorflowPackage(resolve), undefined, 'installed without its addon (npm install --ignore-scripts)');
    assert.deepEqual(tfjsNodeInstalls(resolve)[1], { package: '@tensorflow/tfjs-node', version: '4.22.0', addonBuilt: false });
    await install('@tensorflow/tfjs-node', true);
    assert.equal(installedTensorflowPackage(resolve), '@tensorflow/tfjs-node');
    await install('@tensorflow/tfjs-node-gpu', true);
    assert.equal(installedTensorflowPackage(resolve), '@tensorflow/tfjs-node-gpu');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
