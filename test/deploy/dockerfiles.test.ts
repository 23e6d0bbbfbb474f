// The Dockerfiles follow the deployment rules without building them (the GPU one cannot be built here): parsed with
// dockerfile-ast, every final stage runs as a numeric non-root user with an exec-form entrypoint, bases are pinned,
// nothing secret is copied or baked in, and the CPU/GPU images run node directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DockerfileParser, type Dockerfile, type Instruction } from 'dockerfile-ast';

const ROOT = new URL('../../', import.meta.url);
const APP_IMAGES = ['deploy/Dockerfile', 'deploy/Dockerfile.gpu'];
const DEV_IMAGES = ['scripts/docker/kafka/Dockerfile', 'scripts/docker/versitygw/Dockerfile', 'scripts/docker/node-standin/Dockerfile'];
const ALL = [...APP_IMAGES, ...DEV_IMAGES];

function parse(file: string): Dockerfile {
  return DockerfileParser.parse(readFileSync(new URL(file, ROOT), 'utf8'));
}

/** Instructions of the last stage (from its FROM on): what the shipped image is made of. */
function finalStage(df: Dockerfile): Instruction[] {
  const all = df.getInstructions();
  const lastFrom = all.map((i) => i.getKeyword()).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

/** Each FROM's image with ${ARG} defaults substituted (stage names stay as they are), and the stage names. */
function baseImages(df: Dockerfile): { images: string[]; stages: string[] } {
  const defaults = new Map<string, string>();
  for (const arg of df.getInitialARGs()) {
    const p = arg.getProperty();
    if (p?.getValue()) defaults.set(p.getName(), p.getValue() as string);
  }
  const images = df.getFROMs().map((from) =>
    (from.getArgumentsContent()?.split(/\s+/)[0] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => defaults.get(a ?? b ?? '') ?? ''),
  );
  const stages = df.getFROMs().flatMap((from) => from.getBuildStage() ?? []);
  return { images, stages };
}

/** The instruction as written, flags (RUN --mount=…) included. */
function textOf(file: string, i: Instruction): string {
  const lines = readFileSync(new URL(file, ROOT), 'utf8').split('\n');
  const { start, end } = i.getRange();
  const picked = lines.slice(start.line, end.line + 1);
  picked[picked.length - 1] = picked[picked.length - 1].slice(0, end.character);
  picked[0] = picked[0].slice(start.character);
  return picked.join('\n');
}

function jsonArgs(i: Instruction | undefined): string[] | undefined {
  const content = i?.getArgumentsContent();
  if (content === undefined || content === null || !content.trim().startsWith('[')) return undefined;
  return JSON.parse(content) as string[];
}

for (const file of ALL) {
  test(`${file}: the final stage runs as a numeric non-root user with an exec-form entrypoint`, () => {
    const stage = finalStage(parse(file));
    const users = stage.filter((i) => i.getKeyword() === 'USER');
    const user = users.at(-1)?.getArgumentsContent() ?? '';
    if (file.endsWith('node-standin/Dockerfile')) {
      // The stand-in imitates the official base, which stays root (images built on it set their own USER).
      assert.equal(users.length, 0);
      return;
    }
    assert.match(user, /^\d+:\d+$/, `USER must be uid:gid numbers (runAsNonRoot can only verify those), got '${user}'`);
    assert.ok(!user.startsWith('0:'), 'USER must not be root');
    const entrypoint = jsonArgs(stage.filter((i) => i.getKeyword() === 'ENTRYPOINT').at(-1));
    assert.ok(entrypoint && entrypoint.length > 0, 'ENTRYPOINT in exec (JSON) form, so the process is PID 1 and gets SIGTERM');
  });

  test(`${file}: every base image is pinned to a version tag`, () => {
    const { images, stages } = baseImages(parse(file));
    for (const image of images) {
      if (stages.includes(image)) continue; // an earlier stage of this file
      const [name, tag] = image.split(':');
      assert.ok(name && tag, `${image || '(empty)'} has no tag`);
      assert.notEqual(tag, 'latest', `${image} is not pinned`);
    }
  });

  test(`${file}: no secret is copied into a layer or set in ENV/ARG`, () => {
    const df = parse(file);
    for (const i of df.getInstructions()) {
      const keyword = i.getKeyword();
      const args = i.getArgumentsContent() ?? '';
      if (keyword === 'COPY' || keyword === 'ADD') {
        assert.doesNotMatch(args, /\.npmrc|\.pem\b|\.crt\b|\.key\b|id_rsa|credentials|\.env\b|ca-certificates/i, `${keyword} ${args}`);
      }
      if (keyword === 'ENV' || keyword === 'ARG') {
        assert.doesNotMatch(args, /(SECRET|PASSWORD|TOKEN|ACCESS_KEY)\w*=/i, `${keyword} ${args}`);
      }
      // The CA bundle reaches a build only as a BuildKit secret mount.
      if (keyword === 'RUN' && args.includes('ca_bundle')) assert.match(textOf(file, i), /--mount=type=secret,id=ca_bundle/);
    }
  });
}

for (const file of APP_IMAGES) {
  test(`${file}: node runs the CLI directly, HOME on /tmp, production dependencies only`, () => {
    const df = parse(file);
    const stage = finalStage(df);
    assert.deepEqual(jsonArgs(stage.filter((i) => i.getKeyword() === 'ENTRYPOINT').at(-1)), ['node', '/app/bin/distillery.js']);
    assert.equal(stage.filter((i) => i.getKeyword() === 'USER').at(-1)?.getArgumentsContent(), '10001:10001');
    assert.equal(stage.filter((i) => i.getKeyword() === 'WORKDIR').at(-1)?.getArgumentsContent(), '/app');
    const env = stage.filter((i) => i.getKeyword() === 'ENV').map((i) => i.getArgumentsContent() ?? '').join(' ');
    assert.match(env, /HOME=\/tmp/);
    assert.ok(df.getFROMs().length >= 2, 'multi-stage: build tools stay out of the runtime image');
    // No npm in the runtime stage: what it runs was installed in a builder stage.
    assert.ok(!stage.some((i) => i.getKeyword() === 'RUN' && /\bnpm\b/.test(i.getArgumentsContent() ?? '')));
  });
}

test('deploy/Dockerfile: FROM node:20-bookworm-slim, and the shipped node_modules come from npm ci --omit=dev', () => {
  const df = parse('deploy/Dockerfile');
  assert.ok(baseImages(df).images.every((image) => image === 'node:20-bookworm-slim'), baseImages(df).images.join(', '));
  const text = readFileSync(new URL('deploy/Dockerfile', ROOT), 'utf8');
  assert.match(text, /FROM \$\{NODE_IMAGE\} AS deps[\s\S]*npm ci --omit=dev/);
  assert.match(text, /COPY --from=deps \/app\/node_modules/);
});

test('deploy/Dockerfile.gpu: CUDA 11.2 / cuDNN 8 runtime base, tfjs-node-gpu, the tensorflow backend', () => {
  const df = parse('deploy/Dockerfile.gpu');
  assert.match(baseImages(df).images.at(-1) ?? '', /^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu/);
  const env = finalStage(df).filter((i) => i.getKeyword() === 'ENV').map((i) => i.getArgumentsContent() ?? '').join(' ');
  assert.match(env, /DISTILLERY_BACKEND=tensorflow/);
  const runs = df.getInstructions().filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '');
  assert.ok(runs.some((r) => r.includes('scripts/tfjs-node/install.sh gpu')), 'tfjs-node-gpu installed by the project script');
});
