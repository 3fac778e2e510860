/**
 * Schema 30: run configs say the method settings added with Shuffle BN and MoCo v2's head
 * (run-config.ts's projectionBn, shuffleBn, bnGroups). Every run stored before trained with ISD+'s
 * BN head, no Shuffle BN and one BatchNorm group per replica (a MoCo run among them is "MoCo with
 * ISD+ views": its augTeacher/augStudent were stored already), so that is what this writes. Frozen:
 * plain SQL, whatever run-config.ts's defaults become.
 */
import type { Migration } from '../migrations';

const SQL = `
UPDATE runs
   SET config = json_set(config, '$.projectionBn', json('true'), '$.shuffleBn', json('false'), '$.bnGroups', 1)
 WHERE json_type(config, '$.shuffleBn') IS NULL;
`;

export const v30MethodSettings: Migration = {
  version: 30,
  up(db) {
    db.exec(SQL);
  },
};
