/** sigframe's library entry point: the model, without the CLI. */

export { abis, dataModels } from '../layouts/abi.js';
export * from '../layouts/frames.js';
export { type LibcName, type LibcRelease, libcReleases } from '../layouts/libc.js';
export * from '../layouts/uapi.js';
export * from './abi/constants.js';
export * from './abi/index.js';
export { convertImage, convertState } from './compat/convert.js';
export { type ByteSource, type ElfCore, isElf, readElfCore } from './core/elf.js';
export { type CoreReport, type CoreThread, coreReport } from './core/report.js';
export { stripCore } from './core/strip.js';
export * from './cpuid/parse.js';
export * from './cpuid/records.js';
export { type BuiltFrame, buildFrame } from './frame/build.js';
export { type DecodedFrame, decodeFrame } from './frame/decode.js';
export { checkFrame, type Finding, frameChecks, inferFrameLayout, inferXsaveLayout } from './frame/infer.js';
export { type FrameLayout, frameLayout, type ImageLayout, imageLayout } from './frame/layout.js';
export {
  type FrameFields,
  type FrameReader,
  type FrameRegisterFile,
  type FrameSlots,
  frameReader,
  type SwReserved,
} from './frame/reader.js';
export { type DecodedSiginfo, decodeSiginfo, encodeSiginfo } from './frame/siginfo.js';
export { parseState, type SignalState } from './frame/state.js';
export { type FrameTarget, frameTarget } from './frame/target.js';
export { type FrameRegisters, FrameWriter } from './frame/writer.js';
export { C_HEADER_FILE, cFunctions, cHeader } from './gen/c.js';
export { openCore, readCoreFile } from './io/core-file.js';
export { type BulkFrame, decodeFrames, type FrameSpans, loadFrame } from './io/frames.js';
export { builtinProfileNames, loadBuiltinProfile, loadProfile, profilesInDir } from './io/profiles.js';
export * from './kernel/eras.js';
export * from './kernel/fpu_signal.js';
export { siginfoLayout } from './kernel/siginfo.js';
export * from './kernel/signal.js';
export * from './kernel/task.js';
export * from './kernel/xstate.js';
export * from './libc/sysconf.js';
export * from './profile/checks.js';
export { profileFromDump } from './profile/dump.js';
export * from './profile/profile.js';
export { profileFromXsaveLayout } from './profile/synthetic.js';
export { compat, compatMatrix } from './report/compat.js';
export { type Hazard, type HazardOperand, hazardRules } from './report/hazards.js';
export { type SizeReport, type SizeTarget, sizeReport } from './report/size.js';
export { sizeTerms } from './report/terms.js';
export * from './schema/index.js';
export * from './xsave/catalog.js';
export * from './xsave/enumeration.js';
export * from './xsave/layout.js';
