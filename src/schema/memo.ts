/**
 * The one memo: whatever is compiled or resolved once per object and key — a layout, parser or
 * writer per (schema node, data model), a system or frame target per (profile, kernel, …), a
 * reader per target. Weak in the object, so dropping a profile drops what was made for it — all
 * but the last answer, which is kept: a bulk decode asks the same question once per frame, and
 * comparing the arguments costs less than making their string key.
 */
export function memo<O extends object, A extends readonly unknown[], V>(
  compute: (o: O, ...args: A) => V,
  key: (...args: A) => string = () => '',
): (o: O, ...args: A) => V {
  const cache = new WeakMap<O, Map<string, V>>();
  let last: { o: O; args: A; v: V } | undefined;
  return (o, ...args) => {
    if (last && last.o === o && last.args.length === args.length && last.args.every((a, i) => a === args[i]))
      return last.v;
    let per = cache.get(o);
    if (!per) {
      per = new Map();
      cache.set(o, per);
    }
    const k = key(...args);
    let v = per.get(k);
    if (v === undefined) {
      v = compute(o, ...args);
      per.set(k, v);
    }
    last = { o, args, v };
    return v;
  };
}
