/** Prepared statements keyed by their SQL text, so hot paths (metric appends, list pages) prepare once. */
import type Database from 'better-sqlite3';

export class StatementCache {
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(readonly db: Database.Database) {}

  /** The SQL text is built only from constants and whitelisted fragments; values are always bound. */
  get<Row = unknown>(sql: string): Database.Statement<unknown[], Row> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s as Database.Statement<unknown[], Row>;
  }
}
