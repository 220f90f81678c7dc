// The shared serial framework: every serial driver (Medibus, IntelliVue, …) builds on these.
export * from './link.js';
export * from './serialport-link.js';
export * from './listing.js';
export * from './backoff.js';
export * from './capture.js';
export * from './capturing-link.js';
export * from './replay-link.js';
export * from './supervisor.js';
export * from './device-driver.js';
export * from './claims.js';
export * from './warnings.js';
export * from '../../agent/repeat-log.js';
