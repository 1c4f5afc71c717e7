export * from './cgen.js';
export * from './describe.js';
export * from './encode.js';
export * from './errors.js';
export * from './layout.js';
export * from './node.js';
export * from './parse.js';
