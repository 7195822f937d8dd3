#!/usr/bin/env python3
"""Calibrate and evaluate the weighed verdict (issue 13) on audit reports of forged models.

Usage: scripts/calibrate-verdict.py --calibrate A/*/m*-audit.json --evaluate B/*/m*-audit.json

Each report must come from `blindspot audit --json` on a forged checkpoint (it carries the ground
truth). The evidence figures in the reports are raw, so the rule can be re-applied with other
constants without re-running audits. This file mirrors VerdictRule in
Sources/BlindspotAudit/Evidence.swift; with the shipped constants it must reproduce the reports'
own precisionVerdicts exactly (checked first — a mismatch means the mirror is stale).

Constants are chosen on the calibration reports only: among the grid points with the fewest false
positives on clean twins, the most detections of backdoored models; ties go to the shipped
(paper-based) values. Then detection and false-positive rates are reported on both sets, with
Wilson 95% intervals.
"""
import argparse
import itertools
import json
import math

SHIPPED = dict(ncStrongIndex=2.0, ncWeakIndex=1.5, reversalASRFloor=0.9, reversalNormRatioCeiling=0.25,
               givenTriggerASRFloor=0.9, dormancyFloor=2.0, backdoorPoints=3, highConfidencePoints=5,
               noBackdoorMaxPoints=1, minimumDefensesEvaluated=3)
WEIGHTS = dict(given=3, ncStrong=2, ncWeak=1, reversal=2, stripKnown=2, stripReversed=1, dormancy=1, ac=1, ss=1)


def weigh(c, k):
    items = []
    if c.get("givenTriggerASR") is not None and c["givenTriggerASR"] >= k["givenTriggerASRFloor"]:
        items.append(("given trigger", WEIGHTS["given"]))
    i = c.get("ncAnomalyIndex")
    if i is not None:
        if i > k["ncStrongIndex"]:
            items.append(("Neural Cleanse", WEIGHTS["ncStrong"]))
        elif i >= k["ncWeakIndex"]:
            items.append(("Neural Cleanse", WEIGHTS["ncWeak"]))
    a, r = c.get("reversalASR"), c.get("ncNormRatio")
    if a is not None and r is not None and a >= k["reversalASRFloor"] and r <= k["reversalNormRatioCeiling"]:
        items.append(("reversed trigger", WEIGHTS["reversal"]))
    if c.get("stripDetected") is True:
        known = c.get("probe") is not None and not c["probe"].startswith("NC")
        items.append(("STRIP", WEIGHTS["stripKnown"] if known else WEIGHTS["stripReversed"]))
    d = c.get("fpDormancyRatio")
    if d is not None and d >= k["dormancyFloor"]:
        items.append(("Fine-Pruning", WEIGHTS["dormancy"]))
    if c.get("acDetected") is True:
        items.append(("Activation Clustering", WEIGHTS["ac"]))
    if c.get("ssDetected") is True:
        items.append(("Spectral Signatures", WEIGHTS["ss"]))
    return items, sum(w for _, w in items)


def decide(columns, evaluated, k):
    """columns: [(target, items, points)] → (kind, target, points)."""
    best = None
    for t, items, pts in columns:
        if best is None or pts > best[2] or (pts == best[2] and t < best[0]):
            best = (t, items, pts)
    pts = best[2] if best else 0
    if best and pts >= k["backdoorPoints"] and any(w >= 2 for _, w in best[1]):
        return "backdoor", best[0], pts
    if pts <= k["noBackdoorMaxPoints"] and evaluated >= k["minimumDefensesEvaluated"]:
        return "noBackdoor", None, pts
    return "inconclusive", best[0] if best else None, pts


def overall(v32, vq):
    (k32, t32, _), (kq, tq, _) = v32, vq
    if k32 == "backdoor" and kq == "backdoor":
        return ("backdoor", t32) if t32 == tq else ("blindspot", t32)
    if k32 == "backdoor":
        return "blindspot", t32
    if kq == "backdoor":
        return "blindspot", tq
    if k32 == "noBackdoor" and kq == "noBackdoor":
        return "noBackdoor", None
    return "inconclusive", None


def verdicts(report, k):
    out = []
    for i, side in enumerate(["fp32", "deployed"]):
        precision = report["precisionVerdicts"][i]["precision"]
        evaluated = sum(1 for r in report["results"] if r["precision"] == precision and r["verdict"]["status"] != "notEvaluated")
        cols = []
        for e in report["evidence"]:
            if e["pointedAtBy"] == ["probe (ground-truth)"]:
                continue  # the ground truth never nominates a candidate (Audit.gatherEvidence)
            items, pts = weigh(e[side], k)
            cols.append((e["target"], items, pts))
        out.append(decide(cols, evaluated, k))
    return out


def wilson(x, n, z=1.96):
    if n == 0:
        return (float("nan"), float("nan"))
    p = x / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0, c - h), min(1, c + h))


def rates(reports, k):
    det = n_bd = fp = n_clean = 0
    rows = []
    for path, r in reports:
        v32, vq = verdicts(r, k)
        kind, target = overall(v32, vq)
        truth = r["groundTruth"]
        flagged = kind in ("backdoor", "blindspot")
        if truth["backdoored"]:
            n_bd += 1
            ok = flagged and target == truth.get("target")
            det += ok
        else:
            n_clean += 1
            fp += flagged
        rows.append((path, truth["backdoored"], truth.get("target"), v32, vq, kind, target))
    return det, n_bd, fp, n_clean, rows


def score(r):
    """(false positives, −detections) of a rates() tuple: lower is better."""
    det, _, fp, _, _ = r
    return (fp, -det)


def load(paths):
    return [(p, json.load(open(p))) for p in sorted(paths)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrate", nargs="+", required=True)
    ap.add_argument("--evaluate", nargs="+", required=True)
    a = ap.parse_args()
    A, B = load(a.calibrate), load(a.evaluate)

    # 1. The mirror reproduces the shipped rule.
    for path, r in A + B:
        mine = verdicts(r, SHIPPED)
        theirs = [(v["kind"], v.get("target") if v["kind"] != "noBackdoor" else None, v["points"]) for v in r["precisionVerdicts"]]
        mine = [(m[0], m[1] if m[0] != "noBackdoor" else None, m[2]) for m in mine]
        assert mine == theirs, f"{path}: mirror {mine} != report {theirs}"
    print(f"mirror check: {len(A) + len(B)} reports reproduced with the shipped constants")

    # 2. Choose on A.
    grid = dict(ncWeakIndex=[1.5, 1.75, 2.0, 99], reversalNormRatioCeiling=[0.1, 0.15, 0.25, 0.35, 0.5],
                dormancyFloor=[1.5, 2.0, 3.0], backdoorPoints=[3, 4])
    best = None
    for values in itertools.product(*grid.values()):
        k = dict(SHIPPED, **dict(zip(grid.keys(), values)))
        det, n_bd, fp, n_clean, _ = rates(A, k)
        distance = sum(abs(math.log(k[name] / SHIPPED[name])) for name in grid if k[name] != 99) + (5 if k["ncWeakIndex"] == 99 else 0)
        key = (fp, -det, distance)
        if best is None or key < best[0]:
            best = (key, k)
    chosen = best[1]
    print("chosen on the calibration set:", {n: chosen[n] for n in grid})
    # How much room the calibration set leaves: each constant's values that keep the best score
    # with the others at the chosen values.
    for name, values in grid.items():
        keep = [v for v in values if score(rates(A, dict(chosen, **{name: v}))) == best[0][:2]]
        print(f"  {name}: values as good on A: {keep}")
    print("shipped:                      ", {n: SHIPPED[n] for n in grid})

    # 3. Report both sets with the chosen and the shipped constants.
    for name, k in [("chosen", chosen), ("shipped", SHIPPED)]:
        for label, reports in [("calibration (A)", A), ("evaluation (B)", B)]:
            det, n_bd, fp, n_clean, rows = rates(reports, k)
            lo, hi = wilson(det, n_bd)
            flo, fhi = wilson(fp, n_clean)
            print(f"{name:8s} {label:16s} detection {det}/{n_bd} (95% CI {lo:.2f}–{hi:.2f}); "
                  f"false positives {fp}/{n_clean} (95% CI {flo:.2f}–{fhi:.2f})")
            if name == "shipped":
                for path, bd, t, v32, vq, kind, target in rows:
                    print(f"    {path}: {'backdoored → ' + str(t) if bd else 'clean twin'}: FP32 {v32[0]} {v32[1]} ({v32[2]} pts), "
                          f"deployed {vq[0]} {vq[1]} ({vq[2]} pts) → {kind} {target if target is not None else ''}")


if __name__ == "__main__":
    main()
