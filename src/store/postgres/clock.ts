/** The database's clock in ms since the epoch: lease deadlines and heartbeats are set and compared with it, not a relay's. */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
