#!/usr/bin/env python3
"""Summarise quantization-conditioned backdoor runs (issue 12) as Markdown tables.

Usage: scripts/qcb-table.py DIR...   where each DIR holds forge.json (forge --json) and/or
audit*.json (audit --json) of one model, and optionally an inspect.json (inspect --json).
Prints, per model: attack success before/after conditioning and deployed, the audit's verdict
line, the rounding-position layers that stand out per grid, and the largest per-layer drift.
"""
import glob, json, os, sys

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def pct(x):
    return "–" if x is None else "%.1f%%" % (100 * x)

rows = []
for d in sys.argv[1:]:
    forge = load(os.path.join(d, "forge.json"))
    if forge:
        m = forge["models"][0]
        c = m.get("conditioning") or {}
        metrics = {x["precision"]: x for x in m["metrics"]}
        before = c.get("before", {})
        deployed = [p for p in metrics if p != "fp32"]
        dp = deployed[0] if deployed else None
        print("| %s | %s → %d | %s | %s / %s | %s / %s | %s / %s | %s |" % (
            d, forge["trigger"], forge["target"], c.get("scheme", "–"),
            pct(before.get("cleanAccuracy")), pct(before.get("attackSuccessRate")),
            pct(metrics["fp32"]["cleanAccuracy"]), pct(metrics["fp32"]["attackSuccessRate"]),
            pct(metrics[dp]["cleanAccuracy"]) if dp else "–", pct(metrics[dp]["attackSuccessRate"]) if dp else "–",
            "%.0f%%" % (100 * c["edgeShare"]) if c else "–"))
    for a in sorted(glob.glob(os.path.join(d, "audit*.json"))):
        r = load(a)
        if not r:
            continue
        rp = r["deployment"].get("roundingPositions") or []
        marks = "; ".join("%s %d/%d" % (g["grid"], sum(l["standsOut"] for l in g["layers"]), len(g["layers"])) for g in rp)
        drift = sorted(r["deployment"]["drift"], key=lambda x: -x["relativeL2"])[:2]
        rows.append("| %s | %s | %s | %s | %d | %s |" % (
            os.path.basename(a), d, r["precision"]["scheme"], marks,
            r["overall"]["exitCode"], r["overall"]["line"].replace("|", "\\|")))
        rows.append("|  |  | drift | %s |  |  |" % ", ".join("%s %.3f" % (x["node"], x["relativeL2"]) for x in drift))
if rows:
    print()
    print("| report | model | deployed | rounding marks (layers standing out) | exit | verdict |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
