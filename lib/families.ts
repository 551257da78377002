// What a state dict's names say about the activations its attention modules were built with (a
// state dict stores no activations). Read by discovery (findAttentionModules, `inspect`) and by
// SEBlock.fromStateDict, which warns when its options leave such a hint out.

/** Options a name suggests, and why. */
export interface FamilyHint {
  options: Record<string, string>;
  note: string;
}

/** torchvision's models that use SqueezeExcitation, by the names they give its place. */
const TORCHVISION_SE_PLACES: ReadonlyArray<readonly [RegExp, FamilyHint]> = [
  [/(^|\.)features\.\d+\.block\.\d+$/, { options: { gate: 'hardsigmoid' }, note: "named as in torchvision's MobileNetV3 (features.N.block.M), whose SE gate is hardsigmoid" }],
  [/(^|\.)features\.\d+\.\d+\.block\.\d+$/, { options: { activation: 'silu' }, note: "named as in torchvision's EfficientNet / EfficientNetV2 (features.N.M.block.K), whose SE activation is SiLU" }],
  [/(^|\.)trunk_output\.block\d+\.block\d+-\d+\.f\.se$/, { options: {}, note: "named as in torchvision's RegNet (trunk_output.*.f.se): relu, sigmoid, the defaults" }],
];

/** The hint for a torchvision SqueezeExcitation at `prefix`, or null when its name matches no family. */
export function torchvisionFamily(prefix: string): FamilyHint | null {
  for (const [re, hint] of TORCHVISION_SE_PLACES) if (re.test(prefix)) return { options: { ...hint.options }, note: hint.note };
  return null;
}
