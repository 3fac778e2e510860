/**
 * The trained backbone as a model other programs open: ONNX (through onnx-proto, ONNX's own .proto) or a
 * TF.js layers model (built with tf.layers, saved with model.save through an IOHandler). Both take
 * float32 [N, H, W, C] pixels in [0, 1] at the run's input size, apply the run's per-channel
 * normalisation (x − mean) / std inside, and give the pooled backbone features [N, D] before L2
 * normalisation: what studentEmbed / teacherEmbed give on a toEvalBatch of the same images.
 * The layer graph is walkBackbone's (models/resnet.ts), so the export cannot drift from training.
 */
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { BN_EPSILON } from './models/layers';
import type { ParamStore } from './models/param-store';
import { walkBackbone, type BackboneBuilder, type BackboneSpec } from './models/resnet';

export const ENCODER_FORMATS = ['onnx', 'tfjs'] as const;
export type EncoderFormat = (typeof ENCODER_FORMATS)[number];

/** ONNX opset the graph is written for (Conv, BatchNormalization, GlobalAveragePool, Flatten as of 13). */
export const ONNX_OPSET = 13;
/** The TF.js model's files inside its folder. */
export const TFJS_MODEL_JSON = 'model.json';
export const TFJS_WEIGHTS_BIN = 'model.weights.bin';
/** The export's description (EncoderExportInfo) in a TF.js export's folder. */
export const TFJS_INFO_JSON = 'encoder.json';

export interface WeightArray {
  shape: number[];
  values: Float32Array;
}

/** A backbone's parameters by name below the backbone scope ('stem.conv.w', 'stage1.block0.bn1.runningVar'). */
export type BackboneWeights = (name: string) => WeightArray;

/** Which encoder of a run: the student (what kNN evaluates) or the EMA teacher. */
export type EncoderRole = 'student' | 'teacher';

/** Reads the values of `role`'s backbone variables out of a run's ParamStore (one read per variable). */
export async function readBackboneWeights(params: ParamStore, role: EncoderRole): Promise<BackboneWeights> {
  const prefix = `${role}.backbone.`;
  const byName = new Map<string, WeightArray>();
  for (const e of params.list(prefix))
    byName.set(e.name.slice(prefix.length), {
      shape: [...e.variable.shape],
      values: (await e.variable.data()) as Float32Array,
    });
  return (name) => {
    const w = byName.get(name);
    if (!w) throw new Error(`backbone parameter ${prefix}${name} is missing`);
    return w;
  };
}

export interface EncoderGraphInput {
  spec: BackboneSpec;
  weights: BackboneWeights;
  /** Side of the square input the run trained at. */
  size: number;
  /** Per-channel mean and std in [0, 1] units (computeChannelStats of the run's training images). */
  mean: number[];
  std: number[];
}

// ---------------------------------------------------------------------------------------------
// ONNX
// ---------------------------------------------------------------------------------------------

function floatTensor(name: string, dims: number[], values: Float32Array): onnx.ITensorProto {
  const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes };
}

function intsAttr(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Conv weights [kh, kw, cin, cout] (ours, NHWC) → [cout, cin, kh, kw] (ONNX, NCHW). */
function convWeightsOihw(w: WeightArray): { dims: number[]; values: Float32Array } {
  const [kh, kw, cin, cout] = w.shape;
  const out = new Float32Array(w.values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = w.values[((y * kw + x) * cin + i) * cout + o];
  return { dims: [cout, cin, kh, kw], values: out };
}

/** The backbone as an ONNX ModelProto, serialised. Input 'pixels' [N, size, size, C], output 'features' [N, D]. */
export function encodeOnnxModel(input: EncoderGraphInput, docString: string): Uint8Array {
  const { spec, weights, size } = input;
  const c = spec.channels;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const node = (opType: string, inputs: string[], output: string, attribute: onnx.IAttributeProto[] = []) => {
    nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  };
  inits.push(floatTensor('norm.mean', [c], Float32Array.from(input.mean)));
  inits.push(floatTensor('norm.std', [c], Float32Array.from(input.std)));
  // NHWC broadcasting over the last axis, then NCHW for ONNX's Conv.
  const centred = node('Sub', ['pixels', 'norm.mean'], 'norm.centred');
  const scaled = node('Div', [centred, 'norm.std'], 'norm.scaled');
  const nchw = node('Transpose', [scaled], 'nchw', [intsAttr('perm', [0, 3, 1, 2])]);

  const builder: BackboneBuilder<string> = {
    conv: (x, name, stride) => {
      const w = convWeightsOihw(weights(`${name}.w`));
      inits.push(floatTensor(`${name}.w`, w.dims, w.values));
      const k = w.dims[2];
      const p = Math.floor(k / 2);
      return node('Conv', [x, `${name}.w`], name, [
        intsAttr('kernel_shape', [k, k]),
        intsAttr('strides', [stride, stride]),
        intsAttr('pads', [p, p, p, p]),
      ]);
    },
    batchNorm: (x, name, relu) => {
      const params = ['gamma', 'beta', 'runningMean', 'runningVar'].map((p) => {
        const w = weights(`${name}.${p}`);
        inits.push(floatTensor(`${name}.${p}`, w.shape, w.values));
        return `${name}.${p}`;
      });
      const y = node('BatchNormalization', [x, ...params], name, [
        { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: BN_EPSILON },
      ]);
      return relu ? node('Relu', [y], `${name}.relu`) : y;
    },
    addRelu: (a, b, name) => node('Relu', [node('Add', [a, b], `${name}.add`)], `${name}.relu`),
    pool: (x) =>
      node('Flatten', [node('GlobalAveragePool', [x], 'pool')], 'features', [
        { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
      ]),
  };
  walkBackbone(spec, builder, nchw);

  const model: onnx.IModelProto = {
    irVersion: 7, // the IR of opset 13 (ONNX 1.8)
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'ISD Studio',
    docString,
    graph: {
      name: `${spec.arch}-backbone`,
      node: nodes,
      initializer: inits,
      input: [valueInfo('pixels', ['N', size, size, c])],
      output: [valueInfo('features', ['N', spec.featureDim])],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------
// TF.js
// ---------------------------------------------------------------------------------------------

const layerName = (name: string) => name.replace(/\./g, '_');

function weightTensor(w: WeightArray, shape = w.shape): tf.Tensor {
  return tf.tensor(w.values, shape, 'float32');
}

/**
 * The backbone as a tf.LayersModel (functional: the blocks' shortcuts need it). PyTorch's symmetric
 * padding is an explicit ZeroPadding2D before a 'valid' conv (tf's 'same' pads bottom/right only at
 * stride 2); the normalisation is a 1×1 depthwise conv (x·1/std − mean/std) so no custom layer is needed
 * to load it. Inference-mode BatchNorm takes the running statistics as its moving mean and variance.
 * The caller disposes the model.
 */
export function buildLayersModel(input: EncoderGraphInput): tf.LayersModel {
  const { spec, weights, size } = input;
  const c = spec.channels;
  const pending: { layer: tf.layers.Layer; values: tf.Tensor[] }[] = [];
  const pixels = tf.input({ shape: [size, size, c], name: 'pixels', dtype: 'float32' });
  const norm = tf.layers.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: true, name: 'norm' });
  pending.push({
    layer: norm,
    values: [
      tf.tensor4d(
        Float32Array.from(input.std, (s) => 1 / s),
        [1, 1, c, 1],
      ),
      tf.tensor1d(Float32Array.from(input.mean, (m, i) => -m / input.std[i])),
    ],
  });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
    layer.apply(x) as tf.SymbolicTensor;

  const builder: BackboneBuilder<tf.SymbolicTensor> = {
    conv: (x, name, stride) => {
      const w = weights(`${name}.w`);
      const [k, , , cout] = w.shape;
      const p = Math.floor(k / 2);
      const padded =
        p > 0
          ? apply(
              tf.layers.zeroPadding2d({
                padding: [
                  [p, p],
                  [p, p],
                ],
                name: `${layerName(name)}_pad`,
              }),
              x,
            )
          : x;
      const conv = tf.layers.conv2d({
        filters: cout,
        kernelSize: k,
        strides: stride,
        padding: 'valid',
        useBias: false,
        name: layerName(name),
      });
      pending.push({ layer: conv, values: [weightTensor(w)] });
      return apply(conv, padded);
    },
    batchNorm: (x, name, relu) => {
      const bn = tf.layers.batchNormalization({ axis: -1, epsilon: BN_EPSILON, name: layerName(name) });
      pending.push({
        layer: bn,
        values: ['gamma', 'beta', 'runningMean', 'runningVar'].map((p) => weightTensor(weights(`${name}.${p}`))),
      });
      const y = apply(bn, x);
      return relu ? apply(tf.layers.reLU({ name: `${layerName(name)}_relu` }), y) : y;
    },
    addRelu: (a, b, name) =>
      apply(
        tf.layers.reLU({ name: `${layerName(name)}_relu` }),
        apply(tf.layers.add({ name: `${layerName(name)}_add` }), [a, b]),
      ),
    pool: (x) => apply(tf.layers.globalAveragePooling2d({ name: 'features' }), x),
  };
  const features = walkBackbone(spec, builder, apply(norm, pixels));
  const model = tf.model({ inputs: pixels, outputs: features, name: `${spec.arch}_backbone` });
  for (const { layer, values } of pending) {
    layer.setWeights(values);
    tf.dispose(values);
  }
  return model;
}

/** What model.save hands its IOHandler, as the two files tf.loadLayersModel reads (model.json + weights). */
export interface LayersModelFiles {
  modelJson: string;
  weights: Uint8Array;
}

/** Saves `model` through an IOHandler that keeps the artifacts in memory, in tfjs's file layout. */
export async function saveLayersModel(model: tf.LayersModel): Promise<LayersModelFiles> {
  let files: LayersModelFiles | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData;
      const buffers = data === undefined ? [] : Array.isArray(data) ? data : [data];
      const weights = new Uint8Array(tf.io.concatenateArrayBuffers(buffers));
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [`./${TFJS_WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      files = { modelJson: JSON.stringify(json), weights };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!files) throw new Error('model.save did not call its IOHandler');
  return files;
}

// ---------------------------------------------------------------------------------------------
// What an export holds
// ---------------------------------------------------------------------------------------------

/** What the JSON says of its normalisation, so that no user applies it twice. */
export const NORMALISATION_NOTE =
  'already inside the model: feed pixels in [0, 1] and do not subtract the mean or divide by the std yourself';

/** The JSON beside an exported model: where it came from and how to feed it. */
export interface EncoderExportInfo {
  format: EncoderFormat;
  runId: string;
  runName: string;
  method: 'isd' | 'moco';
  arch: string;
  encoder: EncoderRole;
  checkpoint: { step: number; epoch: number };
  /** float32 [N, size, size, channels], NHWC, pixel values in [0, 1]; N is free; resize: EVAL_RESIZE. */
  input: {
    name: 'pixels';
    shape: [null, number, number, number];
    dtype: 'float32';
    range: [0, 1];
    resize: string;
  };
  /** [N, D] backbone features, not L2-normalised (divide by the row norm for cosine similarity). */
  output: { name: 'features'; shape: [null, number]; l2Normalised: false };
  /** Applied inside the model: (x − mean) / std per channel, in [0, 1] units; the user must not repeat it. */
  normalisation: { insideModel: true; note: string; mean: number[]; std: number[] };
  /** The evaluation made at this checkpoint's step; null when it had none. */
  accuracy: { knn1: number | null; knn20: number | null; linear: number | null } | null;
  exportedAt: string;
  appVersion: string;
}

/** The export's files, by name: ONNX: '<name>.onnx' and '<name>.json'; TF.js: model.json, its weights, encoder.json. */
export async function encoderExportFiles(
  format: EncoderFormat,
  graph: EncoderGraphInput,
  info: EncoderExportInfo,
  onnxName = 'encoder.onnx',
): Promise<{ name: string; data: Uint8Array | string }[]> {
  const infoJson = JSON.stringify(info, null, 2);
  if (format === 'onnx') {
    const doc = `${info.arch} ${info.encoder} backbone of ISD Studio run ${info.runId} at step ${info.checkpoint.step}`;
    return [
      { name: onnxName.replace(/\.onnx$/i, '') + '.json', data: infoJson },
      { name: onnxName, data: encodeOnnxModel(graph, doc) },
    ];
  }
  const model = buildLayersModel(graph);
  try {
    const files = await saveLayersModel(model);
    return [
      { name: TFJS_WEIGHTS_BIN, data: files.weights },
      { name: TFJS_MODEL_JSON, data: files.modelJson },
      { name: TFJS_INFO_JSON, data: infoJson },
    ];
  } finally {
    model.dispose();
  }
}
