/**
 * Loads tfjs's wasm backend in Node ourselves instead of through its own `init()`, for two reasons:
 *
 * 1. Threads. The shipped loader hands emscripten a `blob:` URL for the pthread worker, which Node's
 *    Worker refuses (ERR_WORKER_PATH). We write the same worker script (from the installed package)
 *    to a file and point `locateFile` at it; the main script is the package's own file, so the
 *    worker's `importScripts` reads it from disk.
 * 2. Thread count. The wasm side caps its pool at emscripten_num_logical_cores()/2 (it assumes
 *    hyper-threading), i.e. one thread on a 2-core machine whatever setThreadsCount asks. We answer
 *    that import with 2 × the threads wanted.
 *
 * The module then goes into the package's own BackendWasm, so every shipped kernel works as usual.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';

// The ES2022 lib has no WebAssembly namespace (it lives in the DOM lib); the little we use:
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => object;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: object; module: object }>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type CWrap = (name: string, ret: string | null, args: string[]) => (...a: number[]) => number;
type EmscriptenModule = tfwasm.BackendWasm['wasm'] & {
  cwrap: CWrap;
  PThread?: { runningWorkers: { unref(): void }[] };
};
type WasmImports = { env: Record<string, unknown> };
interface FactoryConfig {
  locateFile: (file: string) => string;
  instantiateWasm: (imports: WasmImports, receive: (instance: object, module: object) => void) => object;
}
type Factory = (config: FactoryConfig) => Promise<EmscriptenModule>;

export interface WasmLoad {
  /** Threads the wasm thread pool really runs (1 = the single-threaded SIMD build). */
  threads: number;
  simd: boolean;
  /** Why fewer threads than asked, when that is the case. */
  note?: string;
}

/** Folder of the installed @tensorflow/tfjs-backend-wasm package. */
export function wasmPackageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** Whether this runtime has what the threaded build needs: shared memory and wasm threads. */
export function threadsSupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    new WebAssemblyApi.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** Writes the package's pthread worker script to a file Node's Worker can start (once per content). */
function pthreadWorkerFile(dir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The script is stored in a template literal, where its "\n" escapes became real newlines.
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `isd-tfjs-wasm-pthread-${hash}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, source);
    fs.renameSync(tmp, file);
  }
  return file;
}

async function loadModule(dir: string, threads: number, simd: boolean): Promise<EmscriptenModule> {
  const threaded = threads > 1;
  const script = threaded ? 'tfjs-backend-wasm-threaded-simd' : 'tfjs-backend-wasm';
  const wasmFile = threaded
    ? 'tfjs-backend-wasm-threaded-simd.wasm'
    : simd
      ? 'tfjs-backend-wasm-simd.wasm'
      : 'tfjs-backend-wasm.wasm';
  const binary = fs.readFileSync(path.join(dir, 'wasm-out', wasmFile));
  // Emscripten's Node glue adds process listeners that rethrow every uncaught error from inside its
  // own one-line source (printing 50 kB of it); Node's defaults do the same minus the noise.
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const factory = require(path.join(dir, 'wasm-out', `${script}.js`)) as Factory;
  for (const l of process.listeners('uncaughtException'))
    if (!before.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection'))
    if (!before.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
  const worker = threaded ? pthreadWorkerFile(dir) : '';
  const module = await factory({
    locateFile: (file) => (file.endsWith('.worker.js') ? worker : path.join(dir, 'wasm-out', file)),
    instantiateWasm: (imports, receive) => {
      if (threaded) imports.env.emscripten_num_logical_cores = () => 2 * threads;
      WebAssemblyApi.instantiate(binary, imports).then(
        (r) => receive(r.instance, r.module),
        (e: unknown) => {
          throw e;
        },
      );
      return {};
    },
  });
  const cwrap = module.cwrap.bind(module);
  (module as unknown as { tfjs: unknown }).tfjs = {
    init: cwrap('init', null, []),
    initWithThreadsCount: cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: cwrap('get_threads_count', 'number', []),
    registerTensor: cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: cwrap('dispose_data', null, ['number']),
    dispose: cwrap('dispose', null, []),
  };
  return module;
}

let loaded: WasmLoad | null = null;

/**
 * Registers (replacing the package's) the 'wasm' backend factory with our loader and `threads`
 * threads (clamped to 1..8). Takes effect at the next tf.setBackend('wasm'); call before it.
 */
export function registerWasmBackend(threads: number): void {
  const wanted = Math.max(1, Math.min(8, Math.floor(threads)));
  const useThreads = wanted > 1 && threadsSupported();
  const dir = wasmPackageDir();
  if (tf.findBackendFactory('wasm') !== null) tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
      let note: string | undefined;
      let module: EmscriptenModule | null = null;
      if (useThreads && simd) {
        try {
          module = await loadModule(dir, wanted, true);
        } catch (e) {
          note = `the threaded wasm build failed to start (${e instanceof Error ? e.message : String(e)}): running on one thread`;
        }
      } else if (wanted > 1) {
        note = simd
          ? 'this runtime has no shared WebAssembly memory (wasm threads): running on one thread'
          : 'this runtime has no wasm SIMD: running the plain build on one thread';
      }
      module ??= await loadModule(dir, 1, simd);
      tfwasm.setThreadsCount(module.PThread ? wanted : 1);
      const backend = new tfwasm.BackendWasm(module);
      // The pool's threads park in their workers between kernels; they must not keep the process
      // alive once the program is done (emscripten refs a worker when it starts a thread).
      for (const w of module.PThread?.runningWorkers ?? []) w.unref();
      const actual = tfwasm.getThreadsCount();
      loaded = { threads: actual, simd, note };
      return backend;
    },
    2,
  );
}

/** What the last wasm backend created by registerWasmBackend runs with, once created. */
export function wasmLoad(): WasmLoad | null {
  return loaded;
}
