/**
 * Helpers for bulk statements that take one array parameter per column
 * (`INSERT ... SELECT ... FROM unnest($1::text[], $2::int8[], ...)`), the
 * same SQL on PostgreSQL and PGlite, written in chunks of bounded size.
 */

export function* chunks<T>(rows: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/** One array parameter per column, for `unnest(...)` statements. */
export function columnsOf<T>(rows: readonly T[], columns: readonly ((row: T) => unknown)[]): unknown[][] {
  return columns.map((col) => rows.map(col));
}
