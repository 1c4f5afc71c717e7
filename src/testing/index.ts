/**
 * sigframe/testing: fast-check arbitraries and layout-compatibility properties for your own test
 * suite — CPU profiles that obey the architecture, kernel eras and configurations, signal states,
 * AMX states, alt stack placements — and the properties sigframe itself is tested with.
 *
 *   import fc from 'fast-check';
 *   import { properties } from 'sigframe/testing';
 *   fc.assert(properties.writesOnlyWhereTheKernelDoes(myFrameWriter));
 */

export { AmxProcess } from '../kernel/process.js';
export { arbitraryOf } from './arbitraries.js';
export { arbitraryCpuShape, arbitraryProfile, type CpuShape, profileOfShape } from './profiles.js';
export * as properties from './properties.js';
export { arbitraryDelivery, arbitraryKernel, arbitraryState, arbitraryTarget, kindsFor } from './states.js';
