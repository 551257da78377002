// Deterministic uniform(-1, 1) fills (xorshift32) shared by the CPU and GPU benches, so runs are
// comparable. One generator can fill several arrays in sequence.
export function xorshiftFiller(seed) {
  let s = seed >>> 0 || 1;
  return (length, scale = 1) => {
    const a = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      a[i] = ((s / 4294967296) * 2 - 1) * scale;
    }
    return a;
  };
}

/** A fresh array from its own seed. */
export function randomArray(length, seed, scale = 1) {
  return xorshiftFiller(seed)(length, scale);
}
