export * from './version.js';
export * from './close-codes.js';
export * from './messages.js';
export * from './schemas.js';
export * from './codec.js';
export * from './request-hash.js';
