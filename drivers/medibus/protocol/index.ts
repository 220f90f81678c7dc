export * from './constants.js';
export * from './checksum.js';
export * from './encode.js';
export * from './errors.js';
export * from './framer.js';
export * from './data.js';
export * from './realtime.js';
