#!/usr/bin/python3
import collections, json, sys
args = sys.argv[1:]
cnt = collections.Counter(); ex = collections.defaultdict(list); total = 0
for cf, rf in zip(args[::2], args[1::2]):
    cases = {c['id']: c for c in json.load(open(cf))}
    for r in json.load(open(rf)):
        c = cases[r['id']]; total += 1
        if 'addon_error' in r or 'torch_error' in r:
            cnt['ERROR'] += 1; ex['ERROR'].append((cf, c, r)); continue
        for key in ('J', 'JS'):
            for p, v in r.get(key, {}).items():
                if p in ('special_mismatch', 'special_boundary', 'illcond', 'real', 'signed_zero'):
                    tag = f"{key}:{p}:{c['op']}"
                    if p == 'real' and r[key].get('t32_also_bad') == r[key]['real']: tag += ':t32alsobad'
                    if p == 'real' and r[key].get('real_subnormal_range') == r[key]['real']: tag += ':subnormal'
                    cnt[tag] += 1; ex[tag].append((cf, c, r))
        for p in r.get('exact_vs_t64', {}):
            if p in ('nan_mismatch', 'inf_mismatch'):
                cnt['SANITY exact_vs_t64 ' + p] += 1; ex['SANITY exact_vs_t64 ' + p].append((cf, c, r))
        for p in r.get('f32_vs_f64', {}):
            if p in ('nan_mismatch', 'inf_mismatch'):
                cnt[f'torch_f32_vs_f64:{p}:{c["op"]}'] += 1
print('cases', total)
for k, v in sorted(cnt.items()): print(f'{k:50s} {v}')
for k, v in sorted(ex.items()):
    print('\n==', k)
    for cf, c, r in v[:int(sys.argv[0] and 4)]:
        small = {kk: c[kk] for kk in ('id', 'op', 'layout', 'shape', 'style', 'k', 'hidden', 'twoFc') if kk in c}
        print(cf, small, c['opts'], sorted(c['w']), 'res' if 'residual' in c else '', 'J=', r.get('J'), 'JS=', r.get('JS'))
