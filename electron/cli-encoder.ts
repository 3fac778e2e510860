/**
 * `isd export-encoder`: a run's trained backbone as ONNX or TF.js, through the app services (the tensor
 * work runs in the analysis worker, as in the app).
 */
import type { Command } from 'commander';
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
}
