#!/usr/bin/env python3
"""Summarise one bench/run.sh result directory as Markdown (stdlib only).

usage: python3 bench/summarize.py bench/results/<timestamp>

Reads runs.csv (one line per run), targets.csv, idle.csv, micro.csv, meta.txt;
prints medians per cell, the ratios Atrium/peer and Atrium/limit, and every
target of issue 7 marked MET / MISSED / not measured.
"""
import csv, math, os, statistics, sys
from collections import OrderedDict

d = sys.argv[1]
def rows(name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return []
    with open(p, newline='') as f:
        return list(csv.DictReader(f))
def num(v):
    try:
        x = float(v)
        return None if math.isnan(x) else x
    except (TypeError, ValueError):
        return None
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v, nd=0):
    if v is None:
        return '–'
    if nd == 0:
        return f'{v:,.0f}'.replace(',', ' ')
    return f'{v:.{nd}f}'

runs = rows('runs.csv')
targets = OrderedDict((t['target'], t) for t in rows('targets.csv'))

# --- medians per (target, workload, conns) ---
cells = OrderedDict()
for r in runs:
    cells.setdefault((r['target'], r['workload'], int(r['conns'])), []).append(r)
agg = {}
for k, rs in cells.items():
    good = [r for r in rs if num(r['rps']) is not None]
    agg[k] = dict(
        n=len(rs), n_fig=len(good),
        rps=med(num(r['rps']) for r in good), p50=med(num(r['p50_ms']) for r in good),
        p99=med(num(r['p99_ms']) for r in good),
        errors=sum(int(r['errors'] or 0) for r in rs),
        rss=max((int(r['peak_rss_mb'] or 0) for r in rs), default=0),
        failed=[r['status'] for r in rs if r['status'].startswith('failed')],
        errs=[r['status'] for r in rs if r['status'].startswith('errors')],
        cpu='/'.join(fmt(med(num(r[c]) for r in good)) for c in
                     ('server_cpu_pct', 'loadgen_cpu_pct', 'kernel_cpu_pct', 'other_cpu_pct')),
        other_max=max((int(r['other_cpu_pct'] or 0) for r in good), default=0),
    )

workloads = list(OrderedDict.fromkeys(r['workload'] for r in runs)) or ['W1', 'W2', 'W3']
conns = sorted({int(r['conns']) for r in runs if not r['target'] == 'sqlite-loop'}) or [1, 8, 64]

def limit_of(backend, wl, c):
    """(label, aggregate) of the limit that bounds this cell."""
    if wl == 'W1':
        return 'nginx', agg.get(('nginx', 'W1', c))
    if backend == 'pg':
        return 'pgbench', agg.get(('pgbench', wl, c))
    return 'C loop', agg.get(('sqlite-loop', wl, 1))

def status_of(t):
    s = targets.get(t)
    if s is None:
        return 'not in TARGETS'
    return s['status'] if s['status'] != 'ok' else 'ok'

# Targets per cell: list of (description, kind, threshold); kind 'peer' (x) or 'limit' (fraction)
def cell_targets(backend, wl, c):
    out = []
    if wl == 'W1':
        out.append(('≥ 8× peer', 'peer', 8.0))
        if c == 64:
            out.append(('≥ 50 % of nginx', 'limit', 0.5))
    else:
        out.append(('≥ 50× peer', 'peer', 50.0))
        if backend == 'pg' and wl == 'W2' and c in (8, 64):
            out.append(('≥ 60 % of pgbench', 'limit', 0.6))
        if backend == 'pg' and wl == 'W2' and c == 64:
            out.append(('p99 ≤ 2× pgbench p99', 'p99', 2.0))
        if backend == 'pg' and wl == 'W3':
            out.append(('≥ 70 % of pgbench', 'limit', 0.7))
        if backend == 'sqlite' and wl == 'W3':
            out.append(('≥ 50 % of the C loop', 'limit', 0.5))
    return out

verdicts = []   # (target text, figure, verdict)
def verdict(ok):
    return 'n/a' if ok is None else ('MET' if ok else 'MISSED')

out = []
p = out.append
meta = open(os.path.join(d, 'meta.txt')).read().strip() if os.path.exists(os.path.join(d, 'meta.txt')) else ''
p(f'# Atrium benchmark suite — {os.path.basename(os.path.normpath(d))}\n')
if meta:
    p('```\n' + meta + '\n```\n')

p('## Servers\n')
p('| target | status | idle RSS MB | detail |')
p('|---|---|---|---|')
for t, s in targets.items():
    kb = num(s.get('idle_rss_kb'))
    p(f"| {t} | {s['status'].upper() if s['status'] != 'ok' else 'ok'} | {fmt(kb / 1024, 1) if kb else '–'} | {s['detail']} |")
p('')

p('## Matrix (medians)\n')
p('req/s = median over reps; p50/p99 in ms; errors = HTTP status ≠ 200 + JSON-RPC errors + socket errors '
  '(pgbench: failed transactions), summed over reps; RSS = peak RSS of the server process tree (MB; '
  'PostgreSQL backends not included). Ratios: Atrium req/s ÷ peer req/s and ÷ limit tx/s.\n')
p('| backend | wl | conns | Atrium req/s | p50 | p99 | err | RSS | peer req/s | p50 | p99 | err | RSS | limit | limit /s | Atrium/peer | Atrium/limit | targets |')
p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for backend in ('sqlite', 'pg'):
    at, pe = f'atrium-{backend}', f'trytond-{backend}'
    if at not in targets and pe not in targets:
        continue
    for wl in workloads:
        for c in conns:
            a, q = agg.get((at, wl, c)), agg.get((pe, wl, c))
            lname, l = limit_of(backend, wl, c)
            ar, qr, lr = (a or {}).get('rps'), (q or {}).get('rps'), (l or {}).get('rps')
            rp = ar / qr if ar is not None and qr else None
            rl = ar / lr if ar is not None and lr else None
            marks = []
            for text, kind, thr in cell_targets(backend, wl, c):
                if kind == 'p99':  # latency: Atrium's p99 ÷ the limit's, at most thr
                    ap, lp = (a or {}).get('p99'), (l or {}).get('p99')
                    ratio = ap / lp if ap is not None and lp else None
                    ok = None if ratio is None else ratio <= thr
                    fig = '–' if ratio is None else f'{fmt(ap, 2)} ms = {ratio:.1f}× {fmt(lp, 2)} ms'
                    marks.append(f'{text}: {verdict(ok)}')
                    verdicts.append((f'{wl} {backend} c{c} {text}', fig, verdict(ok)))
                    continue
                ratio = rp if kind == 'peer' else rl
                ok = None if ratio is None else ratio >= thr
                fig = '–' if ratio is None else (f'{ratio:.1f}×' if kind == 'peer' else f'{100 * ratio:.0f} %')
                marks.append(f'{text}: {verdict(ok)}')
                if ar is None and status_of(at) != 'ok':
                    fig = f'{at} {status_of(at)}'
                verdicts.append((f'{wl} {backend} c{c} {text}', fig, verdict(ok)))
            def side(x, t):
                if x is None:
                    return ['–'] * 5 if status_of(t) == 'ok' else [status_of(t)] + ['–'] * 4
                if x['rps'] is None:
                    return ['failed'] + ['–'] * 4
                return [fmt(x['rps']), fmt(x['p50'], 2), fmt(x['p99'], 2), str(x['errors']), str(x['rss'])]
            p('| ' + ' | '.join([backend, wl, str(c)] + side(a, at) + side(q, pe) +
                                [lname, fmt(lr), '–' if rp is None else f'{rp:.1f}×',
                                 '–' if rl is None else f'{100 * rl:.0f} %', '; '.join(marks) or '–']) + ' |')
p('')

# --- memory, errors and idle connections targets ---
idle = rows('idle.csv')
for at in ('atrium-sqlite', 'atrium-pg'):
    if at not in targets:
        continue
    s = targets[at]
    kb = num(s.get('idle_rss_kb'))
    verdicts.append((f'{at} idle RSS ≤ 30 MB', f'{kb / 1024:.1f} MB' if kb else s['status'],
                     verdict(None if not kb else kb / 1024 <= 30)))
    peaks = [agg[k]['rss'] for k in agg if k[0] == at and k[2] == 64 and agg[k]['n_fig']]
    pk = max(peaks) if peaks else None
    verdicts.append((f'{at} peak RSS under 64 conns ≤ 64 MB', f'{pk} MB' if pk is not None else '–',
                     verdict(None if pk is None else pk <= 64)))
    ers = [agg[k]['errors'] for k in agg if k[0] == at]
    verdicts.append((f'{at} errors = 0 (all runs)', str(sum(ers)) if ers else '–', verdict(None if not ers else sum(ers) == 0)))
    ir = [r for r in idle if r['target'] == at]
    if ir:
        r = ir[0]
        per, ch = num(r['per_conn_kib']), num(r['change_pct'])
        held, req = int(r['held'] or 0), int(r['conns_requested'])
        fig = (f"{per:.1f} KiB" if per is not None else '–') + f" ({held} of {req} held, {r['open_at_end']} open at end)"
        # a server that cannot hold them all (refused, closed) misses the target
        verdicts.append((f"{at} {req} idle keep-alive conns ≤ 16 KiB each", fig,
                         'MISSED' if held < req else verdict(None if per is None else per <= 16)))
        verdicts.append((f"{at} W2 with idle conns ≥ 90 % of without", f'{ch:+.1f} %' if ch is not None else '–',
                         verdict(None if ch is None else ch >= -10)))
    else:
        verdicts.append((f'{at} idle keep-alive connections test', '–', 'n/a'))

p('## Targets\n')
p('| target | figure | verdict |')
p('|---|---|---|')
for text, fig, v in verdicts:
    p(f'| {text} | {fig} | {v} |')
n_met = sum(v == 'MET' for _, _, v in verdicts); n_miss = sum(v == 'MISSED' for _, _, v in verdicts)
p(f'\n**{n_met} met, {n_miss} missed, {len(verdicts) - n_met - n_miss} not measured.**\n')

if idle:
    p('## Idle keep-alive connections\n')
    p('Each connection served one W1 request (HTTP/1.1 keep-alive) and is then held idle; '
      'RSS delta of the server tree ÷ connections held; throughput at the load connections '
      'with them held, against the mean of the runs before and after.\n')
    p('| target | workload | load conns | requested | held | open at end | RSS before MB | RSS held MB | KiB/conn | req/s before | with | after | change | note |')
    p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for r in idle:
        p(f"| {r['target']} | {r['workload']} | {r['load_conns']} | {r['conns_requested']} | {r['held']} | {r['open_at_end']} | "
          f"{fmt(num(r['rss_before_kb']) / 1024 if num(r['rss_before_kb']) else None, 1)} | "
          f"{fmt(num(r['rss_held_kb']) / 1024 if num(r['rss_held_kb']) else None, 1)} | {r['per_conn_kib']} | "
          f"{fmt(num(r['rps_before']))} | {fmt(num(r['rps_with']))} | {fmt(num(r['rps_after']))} | {r['change_pct']} % | {r['note']} |")
    p('')

def micro_rows():
    # Google Benchmark's CSV starts with a context preamble; the table starts at "name,"
    p = os.path.join(d, 'micro.csv')
    if not os.path.exists(p):
        return []
    lines = open(p).read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('name,')), None)
    return [] if start is None else list(csv.DictReader(lines[start:]))
micro = micro_rows()
if micro:
    p('## Micro-benchmarks (Google Benchmark)\n')
    p('| benchmark | time ns (median) | CPU ns | runs |')
    p('|---|---|---|---|')
    by = OrderedDict()
    for r in micro:
        n = r['name']
        if any(n.endswith(s) for s in ('_mean', '_median', '_stddev', '_cv')):
            continue
        by.setdefault(n, []).append(r)
    for n, rs in by.items():
        unit = rs[0].get('time_unit', 'ns')
        scale = {'ns': 1, 'us': 1e3, 'ms': 1e6, 's': 1e9}.get(unit, 1)
        p(f"| {n} | {fmt(med(num(r['real_time']) * scale for r in rs), 0)} | "
          f"{fmt(med(num(r['cpu_time']) * scale for r in rs), 0)} | {len(rs)} |")
    p('')

p('## All cells (medians, every target)\n')
p('CPU % of the whole box: server tree / load generator / kernel / other processes (other > 10 % = noisy box).\n')
p('| target | wl | conns | req/s | p50 ms | p99 ms | errors | peak RSS MB | CPU % srv/gen/kern/other | runs | problems |')
p('|---|---|---|---|---|---|---|---|---|---|---|')
for (t, wl, c), a in agg.items():
    probs = '; '.join(sorted(set(x[:120] for x in a['failed'] + a['errs'])))
    p(f"| {t} | {wl} | {c} | {fmt(a['rps'])} | {fmt(a['p50'], 2)} | {fmt(a['p99'], 2)} | {a['errors']} | {a['rss']} | "
      f"{a['cpu']} | {a['n_fig']}/{a['n']} | {probs or '–'} |")

print('\n'.join(out))
