import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { describeBackends, initBackend, tensorflowLoadReason } from './backend';

const gpuPackageInstalled = (() => {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
})();

describe('backend choice', () => {
  afterEach(() => {
    delete process.env.ISD_BACKEND;
    delete process.env.ISD_THREADS;
  });

  it('picks the best backend that starts and says why better ones were not used', async () => {
    const r = await initBackend({ threads: 2 });
    expect(tf.getBackend()).toBe(r.backend);
    if (!gpuPackageInstalled) {
      expect(r.backend).toBe('wasm');
      // webgpu: no adapter here, or only a software one (never chosen unless forced; webgpu.test.ts)
      expect(r.fallbacks).toMatchObject([
        { backend: 'tensorflow', reason: expect.stringContaining('tfjs-node-gpu is not installed') },
        { backend: 'webgpu', reason: expect.stringMatching(/no WebGPU adapter|software one/) },
      ]);
      expect(r.adapter).toBeNull();
      expect(r.threads).toBe(2);
      expect(r.simd).toBe(true);
    }
    expect(r.device).toContain('logical cores');
    expect(r.versions).toMatchObject({ node: process.versions.node, tfjs: tf.version.tfjs });
    // The registered kernels serve the standard ops: a conv gradient runs on wasm.
    const g = tf.tidy(() =>
      tf
        .grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([2, 6, 6, 3]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')))(
          tf.ones([3, 3, 3, 4]),
        )
        .dataSync(),
    );
    expect(g[0]).toBe(2 * 5 * 5); // tap (0,0) sees 5×5 of the 6×6 ones per image
  });

  it('honours ISD_BACKEND and the prefer option, and refuses unknown names', async () => {
    process.env.ISD_BACKEND = 'cpu';
    const cpu = await initBackend();
    expect(cpu).toMatchObject({ backend: 'cpu', forcedBy: 'ISD_BACKEND', fallbacks: [] });
    const wasm = await initBackend({ prefer: 'wasm', threads: 1 });
    expect(wasm).toMatchObject({ backend: 'wasm', forcedBy: 'prefer', threads: 1 });
    process.env.ISD_BACKEND = 'metal';
    await expect(initBackend()).rejects.toMatchObject({ code: 'BAD_INPUT', field: 'ISD_BACKEND' });
    await expect(initBackend({ prefer: 'gpu' as never })).rejects.toBeInstanceOf(IsdError);
    delete process.env.ISD_BACKEND;
    process.env.ISD_THREADS = '1';
    expect(await initBackend({ prefer: 'wasm' })).toMatchObject({ backend: 'wasm', threads: 1 });
    process.env.ISD_THREADS = 'many';
    await expect(initBackend({ prefer: 'wasm' })).rejects.toMatchObject({ code: 'BAD_INPUT', field: 'ISD_THREADS' });
  });

  it.skipIf(gpuPackageInstalled)('a forced backend that cannot load is an IsdError with the reason', async () => {
    const err = await initBackend({ prefer: 'tensorflow' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IsdError);
    expect((err as IsdError).message).toMatch(/backend: 'tensorflow' cannot be used: tfjs-node-gpu is not installed/);
  });

  it('maps tfjs-node-gpu load failures to reasons a user can act on', () => {
    const missing = Object.assign(new Error("Cannot find module '@tensorflow/tfjs-node-gpu'"), {
      code: 'MODULE_NOT_FOUND',
    });
    expect(tensorflowLoadReason(missing)).toMatch(/not installed.*network access/);
    expect(
      tensorflowLoadReason(new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory')),
    ).toBe(
      'libcudart.so.11.0 not found: tfjs-node-gpu needs CUDA 11.2 and cuDNN 8.1 (install them, or add their lib folder to LD_LIBRARY_PATH)',
    );
    expect(tensorflowLoadReason(new Error('libcudnn.so.8: cannot open shared object file'))).toMatch(
      /^libcudnn\.so\.8 not found: .*cuDNN 8\.1/,
    );
    expect(
      tensorflowLoadReason(new Error('was compiled against a different Node.js version using NODE_MODULE_VERSION 115')),
    ).toMatch(/rebuild/);
    expect(tensorflowLoadReason(new Error("Cannot find module '/x/lib/napi-v8/tfjs_binding.node'"))).toMatch(
      /libtensorflow.*network access/,
    );
  });

  it('describes the candidates without starting one', () => {
    const d = describeBackends();
    expect(d.candidates.map((c) => c.backend)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(d.candidates[0].available).toBe(gpuPackageInstalled);
    expect(d.cpu).toContain('logical cores');
  });

  it('lets a process that used the threaded wasm backend exit by itself', () => {
    const compiled = path.resolve(__dirname, '../../dist/electron/engine/backend.js');
    expect(fs.existsSync(compiled), `${compiled} is missing: run npm run build first`).toBe(true);
    const script = `require(${JSON.stringify(compiled)}).initBackend({prefer:'wasm',threads:2}).then((r)=>console.log(r.backend, r.threads))`;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 30_000, encoding: 'utf8' });
    expect(out.trim()).toBe('wasm 2');
  });
});
