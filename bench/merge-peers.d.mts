// Types of bench/merge-peers.mjs, for test/bench-merge-peers.test.ts (the bench itself is plain JS).

export interface MergedPeerRun {
  file: string;
  gpu: string | null;
  torch: string | null;
  modes: string[];
  timings: number;
  errors: number;
  note: string | null;
}

export function mergePeers(jsonPath: string, peerFiles: string[], note?: string | null): MergedPeerRun[];
