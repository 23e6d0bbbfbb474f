// Which tfjs-node packages are installed here with their native addon built — found without loading TensorFlow.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** In order of preference: a GPU build falls back to the CPU by itself where there is no GPU. */
export const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
export type TfjsNodePackage = (typeof TFJS_NODE_PACKAGES)[number];
/** The command that builds tfjs-node here without TensorFlow's own download (docs/tensorflow-backend.md). */
export const TFJS_NODE_INSTALL_HINT = 'bash scripts/tfjs-node/install.sh [cpu|gpu]';

/** One tfjs-node package as installed here. */
export interface TfjsNodeInstall {
  package: TfjsNodePackage;
  /** The package's version, or undefined when it is not installed. */
  version?: string;
  /** Whether its native addon (lib/napi-v<n>/tfjs_binding.node) is built; without it the package cannot load. */
  addonBuilt: boolean;
}

const require = createRequire(import.meta.url);

/** Where each tfjs-node package stands, resolved from distillery's own location (as its import would be). */
export function tfjsNodeInstalls(resolve: (specifier: string) => string = require.resolve): TfjsNodeInstall[] {
  return TFJS_NODE_PACKAGES.map((pkg) => {
    let dir: string;
    try {
      dir = path.dirname(resolve(`${pkg}/package.json`));
    } catch {
      return { package: pkg, addonBuilt: false };
    }
    const version = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
    const lib = path.join(dir, 'lib');
    const built = existsSync(lib) && readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(path.join(lib, d, 'tfjs_binding.node')));
    return { package: pkg, version, addonBuilt: built };
  });
}

/**
 * The preferred tfjs-node package that is installed with its addon built. One installed without its addon (e.g. by
 * `npm install --ignore-scripts`) does not count: choosing it by default would only fail.
 */
export function installedTensorflowPackage(resolve?: (specifier: string) => string): TfjsNodePackage | undefined {
  return tfjsNodeInstalls(resolve).find((i) => i.addonBuilt)?.package;
}
