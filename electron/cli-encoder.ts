/**
 * `isd export-encoder` (a run's trained backbone as ONNX or TF.js) and `isd embed` (the features of a
 * dataset), through the app services: the tensor work runs in the analysis worker, as in the app.
 */
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { EMBED_SPLITS, type EmbedSplit } from './app/encoder-tasks';
import type { CliOutput } from './cli-output';
import { resolveDbPath } from './app/paths';
import { ENCODER_FORMATS, type EncoderFormat } from './engine/encoder-export';
import type { EngineOptions } from './engine/protocol';
import { IsdError } from './errors';

/** A whole number ≥ 0 from a flag, or a BAD_INPUT naming the flag. */
export function wholeFlag(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new IsdError('BAD_INPUT', `${flag}: must be a whole number ≥ 0, got "${value}"`, { field: flag });
  return n;
}

export function registerEncoderCommands(
  program: Command,
  out: () => CliOutput,
  fail: (o: CliOutput, e: unknown) => void,
  engine?: EngineOptions,
): void {
  const db = () => resolveDbPath(program.opts<{ db?: string }>().db);

  program
    .command('export-encoder <runId>')
    .description(
      "a run's backbone (student; --teacher for the teacher) with its input normalisation, as ONNX or a TF.js layers model: input float32 [N, H, W, C] in [0, 1], output [N, D] features before L2 normalisation",
    )
    .requiredOption('--format <format>', 'onnx (a .onnx file and a .json beside it) or tfjs (a folder)')
    .requiredOption('--out <path>', 'the .onnx file, or the folder for tfjs')
    .option('--checkpoint <step>', 'the checkpoint at this training step (default: the last)')
    .option('--teacher', 'export the EMA teacher instead of the student')
    .action(async (runId: string, flags: { format: string; out: string; checkpoint?: string; teacher?: boolean }) => {
      const o = out();
      try {
        if (!(ENCODER_FORMATS as readonly string[]).includes(flags.format))
          throw new IsdError('BAD_INPUT', `--format: must be onnx or tfjs, got "${flags.format}"`, {
            field: '--format',
          });
        const checkpointStep = flags.checkpoint === undefined ? undefined : wholeFlag(flags.checkpoint, '--checkpoint');
        const { createAppServices } = await import('./app/services');
        const app = createAppServices({ dbPath: db(), transport: 'web', engine });
        try {
          o.info(`exporting run ${runId}'s ${flags.teacher ? 'teacher' : 'student'} backbone as ${flags.format}…`);
          const r = await app.encoders.exportEncoder(runId, {
            format: flags.format as EncoderFormat,
            checkpointStep,
            teacher: Boolean(flags.teacher),
            out: flags.out,
          });
          const result = {
            runId: r.runId,
            format: r.info.format,
            encoder: r.info.encoder,
            step: r.checkpoint.step,
            files: r.files,
            bytes: r.bytes,
            seconds: r.seconds,
            input: r.info.input,
            output: r.info.output,
            accuracy: r.info.accuracy,
          };
          o.result(
            result,
            () =>
              `wrote ${r.files.join(', ')} (${(r.bytes / 1e6).toFixed(2)} MB, step ${r.checkpoint.step}) in ${r.seconds.toFixed(2)} s: input [N, ${r.info.input.shape.slice(1).join(', ')}] in [0, 1], output [N, ${r.info.output.shape[1]}]`,
          );
        } finally {
          await app.close();
        }
      } catch (e) {
        fail(o, e);
      }
    });

  program
    .command('embed <runId>')
    .description(
      "the trained student's L2-normalised features of every image of a dataset's split, in the dataset's order: .npy float32 [N, D] with a .csv of the rows beside it, or one .csv; a .embedding.json says what was resized or converted",
    )
    .requiredOption('--dataset <id|path>', 'a dataset id (isd datasets list) or a path the app reads')
    .requiredOption('--out <file>', 'file.npy or file.csv')
    .option('--split <split>', 'train, test or all (train then test)', 'test')
    .option('--checkpoint <step>', 'the checkpoint at this training step (default: the last)')
    .action(async (runId: string, flags: { dataset: string; out: string; split: string; checkpoint?: string }) => {
      const o = out();
      const stop = new AbortController();
      const onSigint = () => {
        o.info('stopping at the next batch; nothing is written…');
        stop.abort();
      };
      let bar: SingleBar | null = null;
      try {
        if (!(EMBED_SPLITS as readonly string[]).includes(flags.split))
          throw new IsdError('BAD_INPUT', `--split: must be train, test or all, got "${flags.split}"`, {
            field: '--split',
          });
        const checkpointStep = flags.checkpoint === undefined ? undefined : wholeFlag(flags.checkpoint, '--checkpoint');
        const { createAppServices } = await import('./app/services');
        const app = createAppServices({ dbPath: db(), transport: 'web', engine });
        process.on('SIGINT', onSigint);
        try {
          const useBar = !o.json && process.stderr.isTTY === true;
          const r = await app.encoders.embed(runId, {
            dataset: flags.dataset,
            split: flags.split as EmbedSplit,
            out: flags.out,
            checkpointStep,
            signal: stop.signal,
            onProgress: (p) => {
              if (!useBar || p.phase !== 'features') return;
              bar ??= new SingleBar({
                format: 'embed |{bar}| {value}/{total} images · {ips} img/s',
                stream: process.stderr,
              });
              if (!bar.isActive) bar.start(p.total, p.done, { ips: '–' });
              bar.update(p.done, { ips: p.imagesPerSec?.toFixed(0) ?? '–' });
            },
          });
          (bar as SingleBar | null)?.stop();
          const i = r.info;
          const result = {
            runId: i.runId,
            step: i.checkpoint.step,
            dataset: i.dataset,
            split: i.split,
            shape: i.shape,
            files: r.files,
            seconds: i.seconds,
            imagesPerSec: i.imagesPerSec,
            adapted: i.adapted,
            skipped: i.skipped,
          };
          o.result(result, () =>
            [
              `wrote ${r.files.join(', ')}: ${i.shape[0]} × ${i.shape[1]} features in ${i.seconds.toFixed(1)} s (${i.imagesPerSec.toFixed(0)} images/s)`,
              i.adapted.resizedTo
                ? `resized ${i.adapted.from[0]}×${i.adapted.from[1]} → ${i.adapted.resizedTo}×${i.adapted.resizedTo}`
                : '',
              i.adapted.channels ? `converted ${i.adapted.channels}` : '',
              ...i.skipped.map((s) => `skipped ${s.path}: ${s.reason}`),
            ]
              .filter(Boolean)
              .join('\n'),
          );
        } finally {
          process.off('SIGINT', onSigint);
          await app.close();
        }
      } catch (e) {
        (bar as SingleBar | null)?.stop();
        fail(o, e);
      }
    });
}
