// One image of the corpus from its job description: sample the scene, render it, encode it as JPEG.
import sharp from 'sharp';
import { DOMAINS, type DomainName } from './domains.ts';
import { renderScene, sampleScene, type Scene, type SceneParams } from './scene.ts';

/** Plain data (it crosses to worker threads): everything that determines one image. */
export interface ImageJob extends Omit<SceneParams, 'domain'> {
  domain: DomainName;
  jpegQuality: number;
}

export interface RenderedImage {
  jpeg: Uint8Array;
  scene: Scene;
}

export async function renderImage(job: ImageJob): Promise<RenderedImage> {
  const { jpegQuality, domain, ...params } = job;
  const scene = sampleScene({ ...params, domain: DOMAINS[domain] });
  const rgb = renderScene(scene);
  const buf = await sharp(rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .jpeg({ quality: jpegQuality })
    .toBuffer();
  return { jpeg: new Uint8Array(buf.buffer, buf.byteOffset, buf.length), scene };
}
