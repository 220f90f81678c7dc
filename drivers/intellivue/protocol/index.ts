// Pure protocol layer of the IntelliVue Data Export interface over MIB/RS-232.
export * from './attributes.js';
export * from './constants.js';
export * from './encode.js';
export * from './errors.js';
export * from './fcs.js';
export * from './float.js';
export * from './framer.js';
export * from './messages.js';
export * from './reader.js';
export * from './time.js';
export * from './writer.js';
