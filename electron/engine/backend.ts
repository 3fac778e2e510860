/**
 * Chooses the tfjs backend, best first: `tensorflow` on a CUDA GPU (@tensorflow/tfjs-node-gpu);
 * `webgpu` on a hardware adapter (webgpu.ts: Dawn over Vulkan, Metal or Direct3D 12); `tensorflow`
 * on TensorFlow's own CPU kernels; `wasm` (threaded XNNPACK build plus our training kernels); `cpu`
 * (pure JS: correct, far too slow for convolutions). A software adapter (SwiftShader, lavapipe…)
 * is never chosen on its own, only forced (ISD_BACKEND=webgpu). The choice is by kind, not
 * measured: an integrated GPU may be slower than the CPU (`isd bench` shows both). The report says
 * what was chosen, on what device, and for each better backend why it was not used, in words a
 * user can act on.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import type { BackendFallback as ContractFallback, GpuAdapter } from '../contract';
import { IsdError } from '../errors';
import { registerWasmTrainingKernels } from './kernels/register';
import { registerWasmBackend, threadsSupported, wasmLoad } from './kernels/wasm-module';
import { probeWebgpu, startWebgpu, WEBGPU_NOT_INSTALLED } from './webgpu';

export const BACKEND_NAMES = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendFallback extends ContractFallback {
  backend: BackendName;
}

export interface BackendReport {
  backend: BackendName;
  /** GPU name, or CPU model with core and thread counts. */
  device: string;
  /** webgpu: the adapter it runs on; null on every other backend. */
  adapter: GpuAdapter | null;
  /** One entry per backend better than the chosen one, with why it was not used. */
  fallbacks: BackendFallback[];
  versions: Record<string, string>;
  simd: boolean;
  /** Threads the backend computes with (wasm: its thread pool; tensorflow: TensorFlow's own choice, reported as cores). */
  threads: number;
  /** Set when ISD_BACKEND or the prefer option chose the backend. */
  forcedBy?: 'ISD_BACKEND' | 'prefer';
  /** Something the user may want to know about the chosen backend (e.g. wasm fell back to one thread, and why). */
  note?: string;
}

export interface BackendOptions {
  /** Use this backend or fail (IsdError); ISD_BACKEND in the environment does the same. */
  prefer?: BackendName;
  /** wasm thread-pool size; default: ISD_THREADS, else the machine's logical cores, at most 4. */
  threads?: number;
}

const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';

/** Maps a failure to load tfjs-node-gpu to a sentence a user can act on. */
export function tensorflowLoadReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const msg = String(e?.message ?? err);
  if (e?.code === 'MODULE_NOT_FOUND' && msg.includes(`'${TFJS_NODE_GPU}'`)) {
    return 'tfjs-node-gpu is not installed (optional dependency; its install needs network access to download libtensorflow)';
  }
  const cuda = /(lib(?:cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cudnn)[\w]*\.so[.\d]*)/.exec(msg);
  if (cuda) {
    return `${cuda[1]} not found: tfjs-node-gpu needs CUDA 11.2 and cuDNN 8.1 (install them, or add their lib folder to LD_LIBRARY_PATH)`;
  }
  if (/NODE_MODULE_VERSION/.test(msg)) {
    return 'tfjs-node-gpu was built for another Node/Electron version: rebuild it for this one (npm rebuild @tensorflow/tfjs-node-gpu, or electron-builder install-app-deps)';
  }
  if (/tfjs_binding\.node|libtensorflow/.test(msg)) {
    return 'tfjs-node-gpu is installed but its native part (libtensorflow) is missing: its install step downloads it and needs network access; run npm rebuild @tensorflow/tfjs-node-gpu online';
  }
  return `tfjs-node-gpu failed to load: ${msg.split('\n')[0]}`;
}

/** The CPU as a report names it: model, cores, and the threads the backend uses. */
export function cpuDevice(threads: number): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() || os.arch();
  return `${model} (${cpus.length} logical cores), ${threads} thread${threads === 1 ? '' : 's'}`;
}

function gpuName(): string | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], {
      timeout: 5000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const names = out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return names.length > 0 ? names.join(', ') : null;
  } catch {
    return null;
  }
}

function baseVersions(): Record<string, string> {
  const v: Record<string, string> = {
    node: process.versions.node,
    tfjs: tf.version.tfjs,
    'tfjs-backend-wasm': tfwasm.version_wasm,
  };
  if (process.versions.electron) v.electron = process.versions.electron;
  return v;
}

function defaultThreads(): number {
  const env = process.env.ISD_THREADS?.trim();
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > 8)
      throw new IsdError('BAD_INPUT', `ISD_THREADS: '${env}' is not a whole number from 1 to 8`, {
        field: 'ISD_THREADS',
      });
    return n;
  }
  return Math.max(1, Math.min(4, os.cpus().length));
}

function forcedBackend(opts: BackendOptions): { name: BackendName; by: 'ISD_BACKEND' | 'prefer' } | null {
  if (opts.prefer !== undefined) {
    if (!BACKEND_NAMES.includes(opts.prefer)) {
      throw new IsdError('BAD_INPUT', `backend: '${String(opts.prefer)}' is not one of ${BACKEND_NAMES.join(', ')}`, {
        field: 'backend',
      });
    }
    return { name: opts.prefer, by: 'prefer' };
  }
  const env = process.env.ISD_BACKEND?.trim();
  if (env) {
    if (!(BACKEND_NAMES as readonly string[]).includes(env)) {
      throw new IsdError('BAD_INPUT', `ISD_BACKEND: '${env}' is not one of ${BACKEND_NAMES.join(', ')}`, {
        field: 'ISD_BACKEND',
      });
    }
    return { name: env as BackendName, by: 'ISD_BACKEND' };
  }
  return null;
}

type Attempt =
  | { ok: true; report: Omit<BackendReport, 'fallbacks' | 'forcedBy'>; cpuOnly?: boolean }
  | { ok: false; reason: string; adapter?: GpuAdapter };

async function tryTensorflow(): Promise<Attempt> {
  let version: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(TFJS_NODE_GPU);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    version = (require(`${TFJS_NODE_GPU}/package.json`) as { version: string }).version;
  } catch (err) {
    return { ok: false, reason: tensorflowLoadReason(err) };
  }
  if (!(await tf.setBackend('tensorflow')))
    return { ok: false, reason: 'tfjs-node-gpu loaded but its backend failed to start' };
  const binding = (tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } }).binding;
  const onGpu = binding?.isUsingGpuDevice?.() ?? false;
  const cores = os.cpus().length;
  const device = onGpu
    ? (gpuName() ?? 'CUDA GPU')
    : `${cpuDevice(cores)} (TensorFlow CPU kernels: no CUDA GPU visible to TensorFlow; check the driver with nvidia-smi)`;
  return {
    ok: true,
    cpuOnly: !onGpu,
    report: {
      backend: 'tensorflow',
      device,
      adapter: null,
      versions: { ...baseVersions(), 'tfjs-node-gpu': version },
      simd: true,
      threads: cores,
    },
  };
}

/** webgpu on the adapter Dawn finds; a software one only when `allowSoftware` (forced). */
async function tryWebgpu(allowSoftware: boolean): Promise<Attempt> {
  const probe = await probeWebgpu();
  if (!probe.ok) return probe;
  const a = probe.adapter;
  if (a.software && !allowSoftware) {
    return {
      ok: false,
      reason: `the only WebGPU adapter is a software one (${a.description || a.architecture}), slower than the CPU backends: set ISD_BACKEND=webgpu to use it anyway`,
      adapter: a,
    };
  }
  try {
    if (!(await startWebgpu())) return { ok: false, reason: 'the webgpu backend failed to start', adapter: a };
  } catch (err) {
    return {
      ok: false,
      reason: `the webgpu backend failed to start: ${err instanceof Error ? err.message : String(err)}`,
      adapter: a,
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dawnVersion = (require('webgpu/package.json') as { version: string }).version;
  return {
    ok: true,
    report: {
      backend: 'webgpu',
      device: `${a.description || a.architecture || 'GPU'} (${a.vendor || 'unknown vendor'}, WebGPU${a.software ? ', software adapter' : ''})`,
      adapter: a,
      versions: { ...baseVersions(), webgpu: dawnVersion, 'tfjs-backend-webgpu': tf.version.tfjs },
      simd: false,
      threads: 1,
    },
  };
}

async function tryWasm(threads: number): Promise<Attempt> {
  try {
    registerWasmTrainingKernels();
    registerWasmBackend(threads);
    if (!(await tf.setBackend('wasm')))
      return { ok: false, reason: 'the wasm backend failed to start (see the log above)' };
  } catch (err) {
    return {
      ok: false,
      reason: `the wasm backend failed to start: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const load = wasmLoad();
  const actual = load?.threads ?? 1;
  const report: Omit<BackendReport, 'fallbacks' | 'forcedBy'> = {
    backend: 'wasm',
    device: cpuDevice(actual),
    adapter: null,
    versions: baseVersions(),
    simd: load?.simd ?? true,
    threads: actual,
  };
  if (load?.note) report.note = load.note;
  return { ok: true, report };
}

async function tryCpu(): Promise<Attempt> {
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'the cpu backend failed to start' };
  return {
    ok: true,
    report: { backend: 'cpu', device: cpuDevice(1), adapter: null, versions: baseVersions(), simd: false, threads: 1 },
  };
}

let current: BackendReport | null = null;

/**
 * Picks and starts the backend (see the module comment for the order). A backend forced by
 * `prefer` or ISD_BACKEND that cannot start is an IsdError naming the reason.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendReport> {
  const forced = forcedBackend(opts);
  const threads = opts.threads ?? defaultThreads();
  const sameThreads = current?.backend !== 'wasm' || opts.threads === undefined || opts.threads === current.threads;
  if (
    current !== null &&
    tf.getBackend() === current.backend &&
    (forced === null || forced.name === current.backend) &&
    sameThreads
  )
    return current;
  const attempts: Record<BackendName, () => Promise<Attempt>> = {
    tensorflow: tryTensorflow,
    webgpu: () => tryWebgpu(forced !== null),
    wasm: () => tryWasm(threads),
    cpu: tryCpu,
  };
  if (forced !== null) {
    const a = await attempts[forced.name]();
    if (!a.ok) {
      throw new IsdError(
        'BAD_INPUT',
        `${forced.by === 'prefer' ? 'backend' : 'ISD_BACKEND'}: '${forced.name}' cannot be used: ${a.reason}`,
        {
          field: forced.by === 'prefer' ? 'backend' : 'ISD_BACKEND',
        },
      );
    }
    current = { ...a.report, fallbacks: [], forcedBy: forced.by };
    return current;
  }
  const fallbacks: BackendFallback[] = [];
  // tensorflow without a CUDA GPU is kept for its place after webgpu
  let tensorflowCpu: Omit<BackendReport, 'fallbacks' | 'forcedBy'> | null = null;
  for (const name of BACKEND_NAMES) {
    if (name === 'wasm' && tensorflowCpu) {
      if (await tf.setBackend('tensorflow')) {
        current = { ...tensorflowCpu, fallbacks };
        return current;
      }
      fallbacks.push({ backend: 'tensorflow', reason: 'TensorFlow CPU kernels failed to start again after webgpu' });
    }
    const a = await attempts[name]();
    if (a.ok && !a.cpuOnly) {
      current = { ...a.report, fallbacks };
      return current;
    }
    if (a.ok) {
      tensorflowCpu = a.report;
      fallbacks.push({ backend: name, reason: 'no CUDA GPU visible to TensorFlow: its CPU kernels come after webgpu' });
    } else fallbacks.push({ backend: name, reason: a.reason, ...(a.adapter ? { adapter: a.adapter } : {}) });
  }
  throw new IsdError(
    'INTERNAL',
    `no tfjs backend could start: ${fallbacks.map((f) => `${f.backend}: ${f.reason}`).join('; ')}`,
  );
}

export interface BackendDescription {
  /** What initBackend would try, in order, and what can be known without loading anything. */
  candidates: { backend: BackendName; available: boolean; reason?: string }[];
  forced?: { backend: string; by: 'ISD_BACKEND' };
  cpu: string;
  versions: Record<string, string>;
}

/**
 * For `isd info`: what is installed and usable, without starting a backend (tfjs-node-gpu and
 * webgpu are located, not loaded: whether CUDA loads or an adapter exists is only known by initBackend).
 */
export function describeBackends(): BackendDescription {
  const candidates: BackendDescription['candidates'] = [];
  try {
    require.resolve(TFJS_NODE_GPU);
    candidates.push({ backend: 'tensorflow', available: true });
  } catch (err) {
    candidates.push({ backend: 'tensorflow', available: false, reason: tensorflowLoadReason(err) });
  }
  try {
    require.resolve('webgpu');
    candidates.push({ backend: 'webgpu', available: true });
  } catch {
    candidates.push({ backend: 'webgpu', available: false, reason: WEBGPU_NOT_INSTALLED });
  }
  candidates.push(
    threadsSupported()
      ? { backend: 'wasm', available: true }
      : {
          backend: 'wasm',
          available: true,
          reason: 'this runtime has no shared WebAssembly memory: wasm runs on one thread',
        },
  );
  candidates.push({ backend: 'cpu', available: true });
  const env = process.env.ISD_BACKEND?.trim();
  let threads = Math.max(1, Math.min(4, os.cpus().length));
  try {
    threads = defaultThreads();
  } catch {
    // a bad ISD_THREADS is reported by initBackend
  }
  return {
    candidates,
    forced: env ? { backend: env, by: 'ISD_BACKEND' } : undefined,
    cpu: cpuDevice(threads),
    versions: baseVersions(),
  };
}
