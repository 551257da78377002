// Intrinsics captured when the library loads, as Node core's primordials: the checks and the
// bookkeeping of every call use these, so a caller that later replaces Reflect.apply,
// Object.assign, Math.*, Array.prototype methods or the array iterator cannot change what a
// check decides, which tensors a call keeps alive, or turn a refusal into another error.
// Array destructuring, spread and for…of consult Array.prototype[Symbol.iterator] at run time,
// so the call paths index arrays instead.

const ReflectApplyIntrinsic = Reflect.apply;

/** Reflect.apply. */
export const ReflectApply: typeof Reflect.apply = ReflectApplyIntrinsic;
export const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
export const ReflectGetPrototypeOf = Reflect.getPrototypeOf;

/** A method as a function of its receiver: uncurryThis(Set.prototype.has)(set, key). */
// Rest parameters build a fresh array without the iterator, and Reflect.apply reads it by index.
export function uncurryThis<A extends unknown[], R>(fn: (...args: A) => R): (self: unknown, ...args: A) => R {
  return (self: unknown, ...args: A): R => ReflectApplyIntrinsic(fn, self, args) as R;
}

/** An accessor's getter as a function of its receiver (throws at load if the intrinsic has none). */
export function uncurryGetter<T>(proto: object, key: PropertyKey): (self: unknown) => T {
  const get = ReflectGetOwnPropertyDescriptor(proto, key)?.get;
  if (get === undefined) throw new Error(`squeeze-excite (internal): no intrinsic getter ${String(key)}`);
  return (self: unknown): T => ReflectApplyIntrinsic(get, self, []) as T;
}

// The typed-array constructors, as the call paths make their arrays (a caller that replaced
// globalThis.Float64Array must not decide what a call's cfg is, nor break the first load).
export const Float32ArrayCtor = Float32Array;
export const Float64ArrayCtor = Float64Array;
export const Uint16ArrayCtor = Uint16Array;
export const Uint32ArrayCtor = Uint32Array;
export const Uint8ArrayCtor = Uint8Array;
export const Int32ArrayCtor = Int32Array;
export const BigUint64ArrayCtor = BigUint64Array;
export const DataViewCtor = DataView;

export const ObjectCreate = Object.create;
export const ObjectDefineProperty = Object.defineProperty;
export const ObjectFreeze = Object.freeze;
export const ObjectHasOwn = Object.hasOwn;
export const ObjectIs = Object.is;
export const ObjectKeys = Object.keys;
export const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames;
export const ArrayIsArray = Array.isArray;
export const NumberIsFinite = Number.isFinite;
export const NumberIsInteger = Number.isInteger;
export const NumberIsSafeInteger = Number.isSafeInteger;
export const MathAbs = Math.abs;
export const MathFloor = Math.floor;
export const MathLog = Math.log;
export const MathLog2 = Math.log2;
export const MathMax = Math.max;
export const MathMin = Math.min;
export const MathRound = Math.round;
export const MathFround = Math.fround;
export const MathSqrt = Math.sqrt;
export const JSONStringify = JSON.stringify;
export const JSONParse = JSON.parse;
export const StringCtor = String;
export const BigIntCtor = BigInt;
export const ObjectPrototypePropertyIsEnumerable = uncurryThis(Object.prototype.propertyIsEnumerable as (key: PropertyKey) => boolean);
export const StringPrototypeIncludes = uncurryThis(String.prototype.includes as (search: string, position?: number) => boolean);
export const StringPrototypeSlice = uncurryThis(String.prototype.slice as (start?: number, end?: number) => string);
export const StringPrototypeToLowerCase = uncurryThis(String.prototype.toLowerCase as () => string);
// The intrinsic exec itself (RegExpBuiltinExec): test, replace and match look up `exec` on the
// regular expression at run time, so a replaced RegExp.prototype.exec would run inside them.
export const RegExpPrototypeExec = uncurryThis(RegExp.prototype.exec as (s: string) => RegExpExecArray | null);
export const SetPrototypeAdd = uncurryThis(Set.prototype.add as (value: unknown) => Set<unknown>);
export const SetPrototypeClear = uncurryThis(Set.prototype.clear as () => void);
export const SetPrototypeHas = uncurryThis(Set.prototype.has as (value: unknown) => boolean);
export const SetPrototypeGetSize = uncurryGetter<number>(Set.prototype, 'size');
export const WeakMapCtor = WeakMap;
export const WeakMapPrototypeGet = uncurryThis(WeakMap.prototype.get as (key: object) => unknown);
export const WeakMapPrototypeSet = uncurryThis(WeakMap.prototype.set as (key: object, value: unknown) => WeakMap<object, unknown>);
export const MapPrototypeHas = uncurryThis(Map.prototype.has as (key: unknown) => boolean);
export const MapPrototypeGet = uncurryThis(Map.prototype.get as (key: unknown) => unknown);
export const MapPrototypeSet = uncurryThis(Map.prototype.set as (key: unknown, value: unknown) => Map<unknown, unknown>);
export const MapPrototypeForEach = uncurryThis(Map.prototype.forEach as (fn: (value: unknown, key: unknown) => void) => void);
export const NumberPrototypeToString = uncurryThis(Number.prototype.toString as (radix?: number) => string);
export const StringPrototypeCharCodeAt = uncurryThis(String.prototype.charCodeAt as (index: number) => number);
export const StringPrototypeStartsWith = uncurryThis(String.prototype.startsWith as (search: string, position?: number) => boolean);
export const StringPrototypeIndexOf = uncurryThis(String.prototype.indexOf as (search: string, position?: number) => number);
export const StringPrototypeTrim = uncurryThis(String.prototype.trim as () => string);
export const StringPrototypeEndsWith = uncurryThis(String.prototype.endsWith as (search: string, endPosition?: number) => boolean);
// A replaced unregister would leave a disposed tensor's finalizer armed: a second cudaFree of a
// pointer the allocator may have handed out again.
export const FinalizationRegistryPrototypeRegister = uncurryThis(
  FinalizationRegistry.prototype.register as (target: object, held: unknown, token?: object) => void,
);
export const FinalizationRegistryPrototypeUnregister = uncurryThis(
  FinalizationRegistry.prototype.unregister as (token: object) => boolean,
);
export const TypedArrayPrototype = ReflectGetPrototypeOf(Uint8Array.prototype) as object;
export const TypedArrayPrototypeSet = uncurryThis(
  (TypedArrayPrototype as { set: (source: ArrayLike<number>, offset?: number) => void }).set,
);

/** The elements joined by sep, as Array.prototype.join (String of each), read by index. */
export function joinList(list: readonly unknown[], sep: string): string {
  let text = '';
  for (let i = 0; i < list.length; i++) text += (i === 0 ? '' : sep) + StringCtor(list[i]);
  return text;
}

/**
 * Defines key as an own enumerable data property of obj, as an assignment to a fresh key would,
 * without running a setter a caller put on Object.prototype (an attack dropped a state dict's
 * biases with a no-op `set b1()`). The descriptor has no prototype: a `get` or `set` on
 * Object.prototype would otherwise make it an accessor descriptor and defineProperty throw.
 */
export function defineOwn(obj: object, key: PropertyKey, value: unknown): void {
  ObjectDefineProperty(obj, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
}

const ArrayPrototype = Array.prototype;
const ObjectPrototype = Object.prototype;

/** Appends value to list, as push, without running a setter or a push a caller put on Array.prototype. */
export function listAppend<T>(list: T[], value: T): void {
  const k = list.length;
  // An assignment runs only an inherited property's setter (or its Proxy's trap): with none at k
  // on the prototypes an array literal gets (Array.prototype, then Object.prototype, whose own
  // prototype cannot change), it defines an own element, as defineOwn does, at ~6 ns instead of
  // ~400 (defineProperty's slow path: a 1e6-tensor header took 7 s of it; a newcomer, 2026-12-04).
  // These checks run no caller code: the lists are this package's arrays, the prototypes ordinary.
  if (
    ReflectGetPrototypeOf(list) === ArrayPrototype &&
    ReflectGetPrototypeOf(ArrayPrototype) === ObjectPrototype &&
    !ObjectHasOwn(ArrayPrototype, k) &&
    !ObjectHasOwn(ObjectPrototype, k)
  ) {
    list[k] = value;
  } else {
    defineOwn(list, k, value);
  }
}

/** fn of each element, in a new array, as Array.prototype.map (read by index). */
export function listMap<T, R>(list: readonly T[], fn: (value: T, index: number) => R): R[] {
  const out: R[] = [];
  for (let i = 0; i < list.length; i++) listAppend(out, fn(list[i]!, i));
  return out;
}

/** The elements for which keep is true, in a new array, as Array.prototype.filter (read by index). */
export function listFilter<T>(list: readonly T[], keep: (value: T) => boolean): T[] {
  const out: T[] = [];
  for (let i = 0; i < list.length; i++) if (keep(list[i]!)) listAppend(out, list[i]!);
  return out;
}

/** Elements [start, end) in a new array, as Array.prototype.slice with non-negative bounds. */
export function listSlice<T>(list: readonly T[], start: number, end: number = list.length): T[] {
  const out: T[] = [];
  for (let i = start; i < end && i < list.length; i++) listAppend(out, list[i]!);
  return out;
}

/** obj's own property key, or undefined: never Object.prototype's (a polluted one must not fill a gap). */
export function ownValue(obj: object, key: string | number): unknown {
  return ObjectHasOwn(obj, key) ? (obj as Record<string | number, unknown>)[key] : undefined;
}

/** 'a', 'b' joined by sep, each in single quotes (refusal messages: kinds, keys). */
export function quotedList(list: readonly string[], sep: string): string {
  let text = '';
  for (let i = 0; i < list.length; i++) text += `${i === 0 ? '' : sep}'${list[i]!}'`;
  return text;
}

/** Whether list holds value (===), read by index. */
export function listHas<T>(list: readonly T[], value: unknown): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
  return false;
}

/**
 * Defines `props` as own enumerable data properties of err (as Object.assign did, without calling
 * setters a caller may have put on Error.prototype) and returns it.
 */
export function withProps<E extends object, P extends Record<string, unknown>>(err: E, props: P): E & P {
  const keys = ObjectKeys(props);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    defineOwn(err, key, props[key]);
  }
  return err as E & P;
}
