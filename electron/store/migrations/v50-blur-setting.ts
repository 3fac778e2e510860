/**
 * Schema 50: run configs say how the strong view blurred (run-config.ts's blur). Every run stored
 * before blurred with σ 0.1–2 px whatever its image side, so that is what this writes. Frozen:
 * plain SQL, whatever run-config.ts's default becomes.
 */
import type { Migration } from '../migrations';

const SQL = `
UPDATE runs SET config = json_set(config, '$.blur', 'pixels') WHERE json_type(config, '$.blur') IS NULL;
`;

export const v50BlurSetting: Migration = {
  version: 50,
  up(db) {
    db.exec(SQL);
  },
};
