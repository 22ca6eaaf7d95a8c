"""Null-space choice for rank-deficient orthogonal maps, measured on IU X-ray reports.

Compares the partial isometry that sends undetermined directions to zero (what semalign does),
the completion nearest the identity, and LAPACK's arbitrary completion (before and after a
reordering of the same anchors): held-out top-1 retrieval and mean cosine, k = 16/32/64, 10 seeds.

Usage: python benchmarks/bench_nullspace.py EMB.npz, where EMB.npz holds ``texts`` (n,) and the
(n, d) embeddings ``minilm`` and ``e5-small`` of the same distinct texts (for example written from
the embeddings that ``benchmarks/bench_refine.py`` computes).
"""

import sys

import numpy as np

from semalign.align import Aligner

d = np.load(sys.argv[1])
texts = d["texts"]
_, first, inv = np.unique(texts, return_index=True, return_inverse=True)
rng = np.random.default_rng(0)
groups = rng.permutation(first.size)
test_groups = set(groups[:800].tolist())
is_test = np.array([g in test_groups for g in inv])
test = np.array([first[g] for g in sorted(test_groups)])  # one row per distinct test text
pool = np.flatnonzero(~is_test)  # anchors drawn from the rest, duplicates included


def polar(m):
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    return u @ vt


def weights(zx, zy, r):
    m = zx.T @ zy
    u, _, vt = np.linalg.svd(m)
    arbitrary = u[:, : vt.shape[0]] @ vt if m.shape[0] == m.shape[1] else polar(m)
    zero = u[:, :r] @ vt[:r]
    uc, vc = u[:, r:], vt[r:].T
    identity = zero + uc @ polar(uc.T @ vc) @ vc.T
    return {"zero": zero, "identity": identity, "lapack": arbitrary}


def scores(pred, truth):
    pn = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    tn = truth / np.linalg.norm(truth, axis=1, keepdims=True)
    sim = pn @ tn.T
    top1 = float((sim.argmax(axis=1) == np.arange(len(sim))).mean())
    return top1, float(np.diag(sim).mean())


for src_name, tgt_name in [("minilm", "e5-small"), ("e5-small", "minilm")]:
    X, Y = d[src_name].astype(np.float64), d[tgt_name].astype(np.float64)
    for scaling in ["standard", "center-l2"]:
        for k in [16, 32, 64]:
            res = {c: [] for c in ["zero", "identity", "lapack", "lapack-perm", "library"]}
            ranks = []
            for seed in range(10):
                idx = np.random.default_rng(seed).choice(pool, size=k, replace=False)
                a = Aligner("orthogonal", scaling).fit(X[idx], Y[idx])
                ranks.append(a.rank_)
                src, tgt = a.source_scaler_, a.target_scaler_
                zx, zy = src.transform(X[idx]), tgt.transform(Y[idx])
                r = a.rank_
                ws = weights(zx, zy, r)
                p = np.random.default_rng(100 + seed).permutation(k)
                ws["lapack-perm"] = weights(zx[p], zy[p], r)["lapack"]
                for c, w in ws.items():
                    res[c].append(scores(tgt.inverse(src.transform(X[test]) @ w), Y[test]))
                res["library"].append(scores(a.transform(X[test]), Y[test]))
            line = " ".join(
                f"{c}: top1 {np.mean([t for t, _ in v]):.3f} cos {np.mean([c_ for _, c_ in v]):.3f}"
                for c, v in res.items()
            )
            print(
                f"{src_name}->{tgt_name} {scaling:9s} k={k:2d} rank={np.mean(ranks):.0f} | {line}",
                flush=True,
            )
print("test rows (distinct texts):", test.size, "anchor pool rows:", pool.size)
