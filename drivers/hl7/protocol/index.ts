// Pure HL7 v2 + MLLP protocol code for the hl7-mllp driver.
export * from './errors.js';
export * from './types.js';
export * from './escape.js';
export * from './charset.js';
export * from './parse.js';
export * from './access.js';
export * from './dtm.js';
export * from './encode.js';
export * from './ack.js';
export * from './mllp.js';
