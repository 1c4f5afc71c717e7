/**
 * What the commands' arguments name, resolved by the model's own parsers: a kernel version (the
 * newest era when none is given), a C library release, a feature mask. The CLI reads arguments
 * through here and the reports, so it never reaches into the model itself.
 */
export { chooseKernel } from '../kernel/eras.js';
export { parseLibcChoice } from '../libc/sysconf.js';
export { parseMask } from '../xsave/catalog.js';
