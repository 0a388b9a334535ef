#!/usr/bin/env python3
"""Prints the comparison table (Markdown) from the JSON results of bench/compare-mosquitto. With several
rounds per scenario (--repeat), every figure is the median over the rounds."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
names = sorted({p.name.split(".")[0] for p in out.glob("*.json")})


def load(name, broker):
    # name.broker.json (single run, older layout) or name.broker.rN.json (rounds).
    paths = sorted(out.glob(f"{name}.{broker}.r*.json")) or sorted(out.glob(f"{name}.{broker}.json"))
    return [json.loads(p.read_text()) for p in paths]


def med(runs, get):
    values = [get(r) for r in runs]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else 0


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "–"


def us(value):
    value = int(value)
    return f"{value / 1000:.1f} ms" if value >= 10000 else f"{value} µs"


def cpu(runs):
    return med(runs, lambda r: (r.get("server") or {}).get("cpuPercent"))


print("| scenario | rounds | mosquitto | Portcullis | Portcullis / mosquitto | p99 mosquitto | p99 Portcullis | lost (m / P) | server CPU (m / P) |")
print("|---|---|---|---|---|---|---|---|---|")
for name in names:
    m, p = load(name, "mosquitto"), load(name, "portcullis")
    if not m or not p:
        continue
    rounds = min(len(m), len(p))
    p99m = med(m, lambda r: r["latencyMicroseconds"]["p99"])
    p99p = med(p, lambda r: r["latencyMicroseconds"]["p99"])
    if "connectsPerSecond" in m[0]:
        cm, cp = med(m, lambda r: r["connectsPerSecond"]), med(p, lambda r: r["connectsPerSecond"])
        lost_m = med(m, lambda r: r["requested"] - r["connected"])
        lost_p = med(p, lambda r: r["requested"] - r["connected"])
        print(f"| {name} (handshakes/s) | {rounds} | {cm:.0f} | {cp:.0f} | {ratio(cp, cm)} | {us(p99m)} | {us(p99p)} | "
              f"{lost_m:.0f} / {lost_p:.0f} | {cpu(m):.0f}% / {cpu(p):.0f}% |")
        mm = med(m, lambda r: r.get("serverBytesPerConnection"))
        mp = med(p, lambda r: r.get("serverBytesPerConnection"))
        print(f"| {name} (bytes per idle connection) | {rounds} | {mm:.0f} | {mp:.0f} | {ratio(mp, mm)} | | | | |")
    else:
        rm, rp = med(m, lambda r: r["receivedPerSecond"]), med(p, lambda r: r["receivedPerSecond"])
        print(f"| {name} (msg/s received) | {rounds} | {rm:.0f} | {rp:.0f} | {ratio(rp, rm)} | {us(p99m)} | {us(p99p)} | "
              f"{med(m, lambda r: r['lost']):.0f} / {med(p, lambda r: r['lost']):.0f} | {cpu(m):.0f}% / {cpu(p):.0f}% |")
