#!/usr/bin/env python3
"""Prints the comparison table (Markdown) from the JSON results of bench/compare-mosquitto."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
names = sorted({p.name.split(".")[0] for p in out.glob("*.json")})


def load(name, broker):
    path = out / f"{name}.{broker}.json"
    return json.loads(path.read_text()) if path.exists() else None


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "–"


def us(value):
    return f"{value / 1000:.1f} ms" if value >= 10000 else f"{value} µs"


print("| scenario | mosquitto | Portcullis | Portcullis / mosquitto | p99 mosquitto | p99 Portcullis | lost (m / P) | server CPU (m / P) |")
print("|---|---|---|---|---|---|---|---|")
for name in names:
    m, p = load(name, "mosquitto"), load(name, "portcullis")
    if not m or not p:
        continue
    if "connectsPerSecond" in m:
        mem_m = m.get("serverBytesPerConnection") or 0
        mem_p = p.get("serverBytesPerConnection") or 0
        print(f"| {name} (handshakes/s) | {m['connectsPerSecond']:.0f} | {p['connectsPerSecond']:.0f} | "
              f"{ratio(p['connectsPerSecond'], m['connectsPerSecond'])} | {us(m['latencyMicroseconds']['p99'])} | "
              f"{us(p['latencyMicroseconds']['p99'])} | {m['requested'] - m['connected']} / {p['requested'] - p['connected']} | "
              f"{(m.get('server') or {}).get('cpuPercent', 0):.0f}% / {(p.get('server') or {}).get('cpuPercent', 0):.0f}% |")
        print(f"| {name} (bytes per idle connection) | {mem_m:.0f} | {mem_p:.0f} | {ratio(mem_p, mem_m)} | | | | |")
    else:
        print(f"| {name} (msg/s received) | {m['receivedPerSecond']:.0f} | {p['receivedPerSecond']:.0f} | "
              f"{ratio(p['receivedPerSecond'], m['receivedPerSecond'])} | {us(m['latencyMicroseconds']['p99'])} | "
              f"{us(p['latencyMicroseconds']['p99'])} | {m['lost']} / {p['lost']} | "
              f"{(m.get('server') or {}).get('cpuPercent', 0):.0f}% / {(p.get('server') or {}).get('cpuPercent', 0):.0f}% |")
