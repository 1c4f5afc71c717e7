// binary-parser 2.3.0 ships types its package.json "exports" does not expose under NodeNext
// resolution (TS7016); point the bare specifier at them. Pinned exactly in package.json.
declare module 'binary-parser' {
  export { Parser } from 'binary-parser/dist/binary_parser.js';
}
