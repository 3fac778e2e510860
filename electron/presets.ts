/**
 * Presets: named sets of training settings, one list for the form's preset buttons and for
 * `isd train --preset <id>`. Pure (no Node imports), so the renderer bundle can import it; each
 * preset starts from its method's own settings (run-config.ts's METHOD_DEFAULTS).
 */
import { METHOD_DEFAULTS, type RunConfig } from './run-config';

export type Preset = { id: string; label: string; description: string; values: Partial<Omit<RunConfig, 'tags'>> };

type PresetValues = Preset['values'];

/** What every preset trains with unless it says otherwise. */
const BASE: PresetValues = {
  arch: 'resnet20',
  batchSize: 256,
  schedule: 'cosine',
  warmupEpochs: 0,
  momentum: 0.9,
  weightDecay: 1e-4,
  queueSize: 4096,
  imageSize: 0,
  trainLimit: 0,
  linearEval: false,
};

/** ISD+ as published (lr 0.05, m 0.99); the CPU presets shorten it. */
const ISD: PresetValues = { ...METHOD_DEFAULTS.isd, method: 'isd', lr: 0.05, ema: 0.99 };

/** Presets set training fields only; dataset, imbalance, seed, name and tags stay as the user chose. */
export const PRESETS: readonly Preset[] = [
  {
    id: 'quick',
    label: 'Quick look',
    description:
      'A few minutes on a CPU: ResNet-20, 2 epochs on 5,000 images. To see the pipeline work; too short to learn much beyond the random-init features.',
    values: {
      ...BASE,
      ...ISD,
      epochs: 2,
      batchSize: 64,
      queueSize: 1024,
      trainLimit: 5000,
      evalEvery: 1,
      checkpointEvery: 1,
    },
  },
  {
    id: 'cpu-ten-minutes',
    label: 'Ten minutes on a CPU',
    description:
      'Enough steps to start learning on a laptop: ResNet-20 at 16 px, 9 epochs on 16,384 images, 1,152 steps of 128 (a budget; 6–8 minutes on an idle 2-core machine here). On Fashion-MNIST, over two seeds, it lifted 20-NN accuracy 2.8–5.0 points above the random-init encoder with ISD+ and 1.8–3.0 with MoCo v2.',
    values: {
      ...BASE,
      ...ISD,
      epochs: 9,
      batchSize: 128,
      lr: 0.05,
      ema: 0.99,
      queueSize: 4096,
      imageSize: 16,
      trainLimit: 16384,
      evalEvery: 3,
      checkpointEvery: 3,
    },
  },
  {
    id: 'isd-plus',
    label: 'ISD+ paper defaults',
    description:
      'ISD+ as published: T_t 0.01, T_s 0.1, m 0.99, lr 0.05 cosine, weak teacher / strong student, 200 epochs.',
    values: { ...BASE, ...ISD, arch: 'resnet18', epochs: 200, evalEvery: 10, checkpointEvery: 10, linearEval: true },
  },
  {
    id: 'moco-v2',
    label: 'MoCo v2 baseline',
    description: 'MoCo v2: InfoNCE with T 0.2, m 0.999, lr 0.03 cosine, strong views on both branches, 200 epochs.',
    values: {
      ...BASE,
      ...METHOD_DEFAULTS.moco,
      method: 'moco',
      arch: 'resnet18',
      epochs: 200,
      lr: 0.03,
      ema: 0.999,
      evalEvery: 10,
      checkpointEvery: 10,
      linearEval: true,
    },
  },
];

export const PRESET_IDS: readonly string[] = PRESETS.map((p) => p.id);

/** The preset with this id, or undefined; callers name the field in their own error. */
export function findPreset(id: string): Preset | undefined {
  return PRESETS.find((p) => p.id === id);
}
