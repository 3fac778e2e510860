/** Features with a class label per row: what kNN and the linear probe take, and the check of their labels. */
import { IsdError } from '../errors';

/** Labelled features, row-major [N, dim]. */
export interface LabelledFeatures {
  features: Float32Array;
  labels: Int32Array;
}

/** Refuses a label outside 0…numClasses − 1, naming `<field>.labels` and the first one at fault. */
export function checkLabels(labels: Int32Array, numClasses: number, field: string): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < numClasses))
      throw new IsdError('BAD_INPUT', `${field}.labels[${i}] = ${y} is not a class in 0…${numClasses - 1}`, {
        field: `${field}.labels`,
      });
  }
}
