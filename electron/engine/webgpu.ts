/// <reference types="@webgpu/types" />
/**
 * The webgpu backend: @tensorflow/tfjs-backend-webgpu on Dawn's Node bindings (the optional npm
 * package `webgpu`, which ships dawn.node per platform). Dawn reaches the GPU through Vulkan (Linux,
 * Windows), Metal (macOS) or Direct3D 12 (Windows). This module finds the adapter, says whether it
 * is a software one (SwiftShader, lavapipe, llvmpipe, WARP, or flagged isFallbackAdapter), checks
 * the limits the engine needs, starts the tfjs backend on our own device, and watches that device
 * for loss and out-of-memory errors (gpuFault), which the trainer turns into a failed run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { GpuAdapter } from '../contract';
import { IsdError } from '../errors';

export type { GpuAdapter };

export type WebgpuProbe = { ok: true; adapter: GpuAdapter } | { ok: false; reason: string; adapter?: GpuAdapter };

/** The WebGPU limits the engine relies on: the spec's defaults, so any conformant adapter has them. */
export const NEEDED_LIMITS = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 256 * 2 ** 20,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupsPerDimension: 65535,
} as const;

const SOFTWARE = /swiftshader|lavapipe|llvmpipe|softpipe|microsoft basic render|\bwarp\b|software/i;

/** Whether an adapter is a software rasteriser rather than a GPU. */
export function isSoftwareAdapter(
  info: Omit<GpuAdapter, 'software'> & { device?: string },
  fallback: boolean,
): boolean {
  return fallback || SOFTWARE.test([info.vendor, info.architecture, info.device ?? '', info.description].join(' '));
}

export const WEBGPU_NOT_INSTALLED =
  'the webgpu package (Dawn) is not installed: it is an optional dependency without a build for this platform';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | null = null;
let dawnError: string | null = null;

/**
 * Loads `webgpu` once. It is an ES module and this build is CommonJS: tsc would turn `import()`
 * into `require()` anyway, so we call require directly and rely on require(esm), unflagged from
 * Node 20.19 and in Electron 38's Node 22 (the package has no top-level await, which require(esm)
 * refuses). Older Node answers ERR_REQUIRE_ESM, reported as a reason, not a crash.
 */
function loadDawn(): DawnModule | string {
  if (dawn) return dawn;
  if (dawnError) return dawnError;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    dawn = require('webgpu') as DawnModule;
    // tfjs-backend-webgpu uses the GPUBufferUsage/GPUMapMode/GPUShaderStage constants as globals.
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.assign(globalThis, { [k]: v });
    return dawn;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const msg = String(e?.message ?? err).split('\n')[0];
    if (e?.code === 'MODULE_NOT_FOUND' && msg.includes("'webgpu'")) dawnError = WEBGPU_NOT_INSTALLED;
    else if (e?.code === 'ERR_REQUIRE_ESM')
      dawnError = `the webgpu package is an ES module and this Node (${process.versions.node}) cannot require it: use Node 20.19 or later`;
    else if (/libvulkan/.test(msg))
      dawnError =
        'libvulkan.so.1 (the Vulkan loader) is missing: install it (Debian/Ubuntu: apt install libvulkan1) and a Vulkan driver for the GPU';
    else dawnError = `Dawn (the webgpu package) failed to load: ${msg}`;
    return dawnError;
  }
}

/** GPUAdapter.info (newer than the @webgpu/types this tfjs pins). */
function infoOf(a: GPUAdapter): GPUAdapterInfo & { isFallbackAdapter?: boolean } {
  return (a as GPUAdapter & { info: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
}

function describeAdapter(a: GPUAdapter): GpuAdapter {
  const info = infoOf(a);
  const plain = { vendor: info.vendor, architecture: info.architecture, description: info.description };
  const fallback =
    info.isFallbackAdapter === true || (a as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { ...plain, software: isSoftwareAdapter({ ...plain, device: info.device }, fallback) };
}

/** Names the first limit the adapter falls short of, or null. */
function missingLimit(a: GPUAdapter): string | null {
  for (const [name, need] of Object.entries(NEEDED_LIMITS)) {
    const has = (a.limits as unknown as Record<string, number>)[name];
    if (!(has >= need)) return `the adapter's ${name} is ${has}, the engine needs ${need}`;
  }
  return null;
}

let gpu: GPU | null = null;
let adapter: GPUAdapter | null = null;

/** Finds the high-performance adapter; ok only if it has the limits the engine needs (software or not). */
export async function probeWebgpu(): Promise<WebgpuProbe> {
  const d = loadDawn();
  if (typeof d === 'string') return { ok: false, reason: d };
  // a lost device's adapter is spent (WebGPU gives an adapter one device): ask for a fresh one
  if (fault !== null) adapter = null;
  try {
    if (!gpu) {
      // The Vulkan loader prints "XDG_RUNTIME_DIR is invalid or not set" on every start without one (CLI, CI).
      if (!process.env.XDG_RUNTIME_DIR)
        process.env.XDG_RUNTIME_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-xdg-'));
      gpu = d.create([]);
      // WebGPUBackend's constructor checks navigator.gpu (a browser's); Node ≥ 21 has a navigator without one.
      const nav = (globalThis as { navigator?: object }).navigator;
      if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    }
    adapter ??= await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ok: false, reason: `Dawn could not look for a GPU: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!adapter) {
    return {
      ok: false,
      reason:
        'no WebGPU adapter: no GPU driver Dawn can use (Linux: a Vulkan driver, e.g. mesa-vulkan-drivers or the NVIDIA driver; Vulkan ICDs that lack what Dawn needs, as lavapipe, are skipped)',
    };
  }
  const info = describeAdapter(adapter);
  const short = missingLimit(adapter);
  if (short) return { ok: false, reason: short, adapter: info };
  return { ok: true, adapter: info };
}

/** What went wrong with the device; null while it is healthy. */
export interface GpuFault {
  kind: 'lost' | 'out-of-memory' | 'internal';
  message: string;
}

let fault: GpuFault | null = null;
let device: GPUDevice | null = null;
let registered = false;

/** The first loss or uncaptured out-of-memory/internal error of the current device, or null. */
export function gpuFault(): GpuFault | null {
  return fault;
}

/**
 * The run's failure when the webgpu device is lost or ran out of memory (null otherwise, and on
 * every other backend): says at which step, names the batch size for out-of-memory, and that the
 * run resumes from its last checkpoint on any backend.
 */
export function gpuFailure(step: number, batchSize: number): IsdError | null {
  if (fault === null || tf.getBackend() !== 'webgpu') return null;
  const resume = 'resume the run from its last checkpoint, on this GPU or any backend (ISD_BACKEND=wasm)';
  if (fault.kind === 'out-of-memory')
    return new IsdError(
      'INTERNAL',
      `out of GPU memory at step ${step} with batch size ${batchSize}: lower the batch size, or ${resume} (${fault.message})`,
      { field: 'batchSize' },
    );
  return new IsdError('INTERNAL', `${fault.message}, at step ${step}: ${resume}`);
}

/** Destroys the device as a driver reset would: for the device-lost test. */
export function loseDeviceForTest(): void {
  device?.destroy();
}

/**
 * Registers tfjs's webgpu backend on a device of our adapter (instead of tfjs-backend-webgpu's own
 * factory, which asks navigator.gpu, absent in Node) and starts it. Call after probeWebgpu said ok.
 */
export async function startWebgpu(): Promise<boolean> {
  if (!adapter) throw new Error('startWebgpu before probeWebgpu found an adapter');
  if (!registered || fault !== null) {
    type TfjsWebgpu = typeof import('@tensorflow/tfjs-backend-webgpu');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu') as TfjsWebgpu;
    // Replaces the factory tfjs-backend-webgpu registers on import (navigator.gpu being set), and a
    // lost device's: a lost device cannot be reused, a new one is made.
    if ('webgpu' in tf.engine().registryFactory) tf.removeBackend('webgpu');
    const a = adapter;
    tf.registerBackend(
      'webgpu',
      async () => {
        const requiredFeatures = (['timestamp-query'] as GPUFeatureName[]).filter((f) => a.features.has(f));
        const limits = a.limits as unknown as Record<string, number>;
        const requiredLimits = Object.fromEntries(Object.keys(NEEDED_LIMITS).map((k) => [k, limits[k]]));
        const dev = await a.requestDevice({ requiredFeatures, requiredLimits });
        fault = null;
        device = dev;
        void dev.lost.then((info) => {
          if (device === dev)
            fault ??= { kind: 'lost', message: `the GPU device was lost (${info.reason}): ${info.message}` };
        });
        dev.addEventListener('uncapturederror', (ev) => {
          const error = (ev as GPUUncapturedErrorEvent).error;
          if (device !== dev || fault) return;
          if (
            error instanceof
            (globalThis as unknown as { GPUOutOfMemoryError: typeof GPUOutOfMemoryError }).GPUOutOfMemoryError
          )
            fault = { kind: 'out-of-memory', message: `out of GPU memory: ${error.message}` };
          else if (error.constructor?.name === 'GPUInternalError')
            fault = { kind: 'internal', message: `GPU internal error: ${error.message}` };
        });
        return new WebGPUBackend(dev, infoOf(a));
      },
      3,
    );
    registered = true;
  }
  return tf.setBackend('webgpu');
}
