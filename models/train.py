#!/usr/bin/python3
"""Trains the alarm-validation model from the feature CSV written by models/extract-features.ts.

    /usr/bin/python3 models/train.py <features.csv> <out dir>
    /usr/bin/python3 models/train.py --cv-seeds 0,1,2 <features.csv>   (cross-validation of other outer splits only)

Gradient-boosted trees (scikit-learn) over all alarm types, plus trees trained on ventricular-tachycardia
alarms only whose logit is averaged with the global trees' for VT alarms; recalibrated per alarm type by a second
stage (logistic regression on that out-of-fold logit and three fused criterion features, each per alarm type),
evaluated by 5-fold cross-validation split by record and
stratified by alarm type x label. The operating thresholds (one per alarm type, or one global) are
chosen inside each training fold from an inner cross-validation, for a true-alarm sensitivity of at
least SENSITIVITY_TARGET, and never see the test fold. The final model is fitted on all records, its
thresholds from a 5-fold out-of-fold pass over all records, and exported to ONNX with onnx.helper
(TreeEnsembleRegressor + the second stage as plain ops + Sigmoid; the thresholds are in the graph, so the
file's SHA-256 covers them).
Deterministic: fixed seeds, records sorted by name.
"""
import csv
import hashlib
import json
import sys

import numpy as np
import onnx
import sklearn
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ALARM_TYPES = ['Asystole', 'Bradycardia', 'Tachycardia', 'Ventricular_Tachycardia', 'Ventricular_Flutter_Fib']
SENSITIVITY_TARGET = 0.98
FN_WEIGHT = 5
# Thresholds: 'global' (one for all alarm types) or 'per-type'.
THRESHOLD_MODE = 'global'
GBT_PARAMS = dict(n_estimators=200, learning_rate=0.05, max_depth=4, subsample=0.5, max_features=0.3, min_samples_leaf=20,
                  random_state=0)
TRUE_WEIGHT = 1.0  # sample weight of true alarms
OUTER_SEED = 0
INNER_SEED = 1
MODEL_VERSION = 'edge-alarm-gbt-5'
# VT false alarms were most of what gbt-3 kept (77 of 116): trees of their own, same parameters, fitted on the VT
# records only; for a VT alarm the second stage sees the mean of both trees' (clipped) logits.
VT = 'Ventricular_Tachycardia'
# Second stage: per alarm type, intercept + slope on the trees' logit + these fused criterion features
# (standardised per type; a missing value, -10, takes the type's median). Fitted on out-of-fold logits of
# the trees, never on in-sample ones.
STACK_FEATURES = ['x_marginQw', 'x_marginMin', 'x_againstQ']
STACK_C = 1.0
MISSING = -10.0
LOGIT_CLIP = float(np.log((1 - 1e-4) / 1e-4))


def load(path):
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header, body = rows[0], sorted(rows[1:], key=lambda r: r[0])
    names = header[3:]
    X = np.array([[float(v) for v in r[3:]] for r in body], dtype=np.float32)
    y = np.array([int(r[2]) for r in body])
    types = np.array([r[1] for r in body])
    records = [r[0] for r in body]
    return names, X, y, types, records


def fit(X, y):
    m = GradientBoostingClassifier(**GBT_PARAMS)
    m.fit(X, y, sample_weight=np.where(y == 1, TRUE_WEIGHT, 1.0))
    return m


def counts(y, pred):
    tp = int(((y == 1) & (pred == 1)).sum())
    tn = int(((y == 0) & (pred == 0)).sum())
    fp = int(((y == 0) & (pred == 1)).sum())
    fn = int(((y == 1) & (pred == 0)).sum())
    return dict(TP=tp, FP=fp, TN=tn, FN=fn,
                sensitivity=tp / (tp + fn) if tp + fn else None,
                suppression=tn / (tn + fp) if tn + fp else None,
                score=100 * (tp + tn) / (tp + tn + fp + FN_WEIGHT * fn) if len(y) else None)


def threshold_for(p, y):
    """Largest threshold that keeps the sensitivity on (p, y) at or above the target."""
    pt = np.sort(p[y == 1])
    if len(pt) == 0:
        return 0.5
    k = int(np.floor(len(pt) * (1 - SENSITIVITY_TARGET) + 1e-9))
    # Half-way down to the next lower probability, so a tie just under the cut still passes.
    below = pt[k - 1] if k >= 1 else 0.0
    return float((pt[k] + below) / 2) if k >= 1 else float(pt[0] * 0.999)


def out_of_fold(X, y, strata, seed):
    p = np.zeros(len(y))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, strata):
        p[te] = fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    return p


def logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def fit_vt(X, y, types):
    i = types == VT
    return fit(X[i], y[i])


def vt_out_of_fold(X, y, types, seed):
    """Out-of-fold probabilities of the VT-only trees on the VT records (0 elsewhere, unused)."""
    p = np.zeros(len(y))
    iv = np.where(types == VT)[0]
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X[iv], y[iv]):
        p[iv[te]] = fit(X[iv[tr]], y[iv[tr]]).predict_proba(X[iv[te]])[:, 1]
    return p


def blend(p_all, p_vt, types):
    """The first stage's probability: the global trees', and for VT alarms the mean of both trees' logits."""
    q = p_all.copy()
    i = types == VT
    q[i] = 1 / (1 + np.exp(-(logit(p_all[i]) + logit(p_vt[i])) / 2))
    return q


def first_stage(trees, vt_trees, X, types):
    p_vt = np.zeros(len(X))
    i = types == VT
    if i.any():
        p_vt[i] = vt_trees.predict_proba(X[i])[:, 1]
    return blend(trees.predict_proba(X)[:, 1], p_vt, types)


def stack_stats(X, y, types, names):
    """Per alarm type and stacked feature: (column, median of the present values, mean, sd after imputation)."""
    stats = {}
    for a in ALARM_TYPES:
        i = types == a
        if y[i].min() == y[i].max():
            stats[a] = []
            continue
        out = []
        for f in STACK_FEATURES:
            j = names.index(f)
            v = X[i, j].astype(float)
            ok = v != MISSING
            med = float(np.median(v[ok])) if ok.any() else 0.0
            v = np.where(ok, v, med)
            out.append((j, med, float(np.mean(v)), float(np.std(v)) or 1.0))
        stats[a] = out
    return stats


def stack_design(p, X, types, stats):
    z = logit(p)
    oh = np.zeros((len(p), len(ALARM_TYPES)))
    oh[np.arange(len(p)), [ALARM_TYPES.index(t) for t in types]] = 1
    cols = [oh, oh * z[:, None]]
    for a, fl in stats.items():
        for j, med, mu, sd in fl:
            v = X[:, j].astype(float)
            v = np.where(v == MISSING, med, v)
            cols.append((oh[:, ALARM_TYPES.index(a)] * (v - mu) / sd)[:, None])
    return np.hstack(cols)


def stack_fit(p_oof, X, y, types, names):
    stats = stack_stats(X, y, types, names)
    lr = LogisticRegression(C=STACK_C, fit_intercept=False, max_iter=5000).fit(stack_design(p_oof, X, types, stats), y)
    return stats, lr


def stack_predict(stage2, p, X, types):
    stats, lr = stage2
    return lr.predict_proba(stack_design(p, X, types, stats))[:, 1]


def stack_oof(p_oof, X, y, types, strata, names, seed):
    """Out-of-fold second-stage probabilities over records whose tree probabilities are already out-of-fold."""
    q = np.zeros(len(y))
    for a, b in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, strata):
        q[b] = stack_predict(stack_fit(p_oof[a], X[a], y[a], types[a], names), p_oof[b], X[b], types[b])
    return q


def choose_thresholds(p, y, types, mode):
    if mode == 'global':
        t = threshold_for(p, y)
        return {a: t for a in ALARM_TYPES}
    return {a: threshold_for(p[types == a], y[types == a]) for a in ALARM_TYPES}


def apply(p, types, thr):
    return np.array([1 if pi >= thr[t] else 0 for pi, t in zip(p, types)])


def cross_validate(X, y, types, strata, mode, names, outer_seed=OUTER_SEED, inner_seed=INNER_SEED):
    pred = np.zeros(len(y), dtype=int)
    prob = np.zeros(len(y))
    folds = []
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=outer_seed).split(X, strata)):
        inner = blend(out_of_fold(X[tr], y[tr], strata[tr], inner_seed), vt_out_of_fold(X[tr], y[tr], types[tr], inner_seed), types[tr])
        stage2 = stack_fit(inner, X[tr], y[tr], types[tr], names)
        q = stack_oof(inner, X[tr], y[tr], types[tr], strata[tr], names, inner_seed)
        thr = choose_thresholds(q, y[tr], types[tr], mode)
        p = stack_predict(stage2, first_stage(fit(X[tr], y[tr]), fit_vt(X[tr], y[tr], types[tr]), X[te], types[te]), X[te], types[te])
        prob[te] = p
        pred[te] = apply(p, types[te], thr)
        folds.append(dict(fold=k, test_records=len(te), thresholds=thr, **counts(y[te], pred[te])))
    return prob, pred, folds


def report_block(y, types, pred):
    out = {'overall': counts(y, pred)}
    for a in ALARM_TYPES:
        i = types == a
        out[a] = counts(y[i], pred[i])
    return out


def f32_leq_threshold(t):
    """float32 threshold giving the same split as sklearn's float64 one on float32 features."""
    t32 = np.float32(t)
    if float(t32) > t:
        t32 = np.nextafter(t32, np.float32(-np.inf))
    return float(t32)


def tree_node(model, n_feat, name, output):
    """A scikit-learn GradientBoostingClassifier as one TreeEnsembleRegressor giving its raw logit."""
    ids, nodeids, featids, values, modes, trues, falses, missing = [], [], [], [], [], [], [], []
    t_tree, t_node, t_id, t_weight = [], [], [], []
    lr = model.learning_rate
    for ti, est in enumerate(model.estimators_[:, 0]):
        tr = est.tree_
        for n in range(tr.node_count):
            ids.append(ti)
            nodeids.append(n)
            left, right = int(tr.children_left[n]), int(tr.children_right[n])
            if left == -1:
                featids.append(0)
                values.append(0.0)
                modes.append('LEAF')
                trues.append(0)
                falses.append(0)
                t_tree.append(ti)
                t_node.append(n)
                t_id.append(0)
                t_weight.append(float(lr * tr.value[n][0][0]))
            else:
                featids.append(int(tr.feature[n]))
                values.append(f32_leq_threshold(float(tr.threshold[n])))
                modes.append('BRANCH_LEQ')
                trues.append(left)
                falses.append(right)
            missing.append(0)
    base = float(model._raw_predict_init(np.zeros((1, n_feat), dtype=np.float32))[0, 0])
    return helper.make_node(
        'TreeEnsembleRegressor', ['features'], [output], domain='ai.onnx.ml', name=name,
        n_targets=1, aggregate_function='SUM', post_transform='NONE', base_values=[base],
        nodes_treeids=ids, nodes_nodeids=nodeids, nodes_featureids=featids, nodes_values=values,
        nodes_modes=modes, nodes_truenodeids=trues, nodes_falsenodeids=falses,
        nodes_missing_value_tracks_true=missing,
        target_treeids=t_tree, target_nodeids=t_node, target_ids=t_id, target_weights=t_weight)


def export_onnx(model, vt_model, stage2, names, thresholds, meta, path):
    n_feat = len(names)
    trees = tree_node(model, n_feat, 'gbt', 'logit')
    vt_trees = tree_node(vt_model, n_feat, 'gbt_vt', 'logit_vt')
    # Second stage, per alarm type t (one-hot o): logit2 = o·c + (o·a)·clip(logit) + Σ_k (o·W)_k x̃_k, with x̃ the
    # stacked features, a missing value (-10) replaced by the type's median (o·MED); c folds in the standardisation.
    stats, lr = stage2
    coef = lr.coef_[0]
    nt, nk = len(ALARM_TYPES), len(STACK_FEATURES)
    cols = [names.index(f) for f in STACK_FEATURES]
    c0, slope = [0.0] * nt, [0.0] * nt
    w = [[0.0] * nk for _ in range(nt)]
    med = [[0.0] * nk for _ in range(nt)]
    k = 2 * nt
    for ti, a in enumerate(ALARM_TYPES):
        c0[ti] = float(coef[ti])
        slope[ti] = float(coef[nt + ti])
    for a, fl in stats.items():
        ti = ALARM_TYPES.index(a)
        for fi, (j, m, mu, sd) in enumerate(fl):
            assert j == cols[fi]
            w[ti][fi] = float(coef[k] / sd)
            c0[ti] -= float(coef[k] * mu / sd)
            med[ti][fi] = m
            k += 1
    assert k == len(coef)
    stack_init = [
        helper.make_tensor('logit_min', TensorProto.FLOAT, [], [-LOGIT_CLIP]),
        helper.make_tensor('logit_max', TensorProto.FLOAT, [], [LOGIT_CLIP]),
        helper.make_tensor('stack_cols', TensorProto.INT64, [nk], cols),
        helper.make_tensor('missing', TensorProto.FLOAT, [], [MISSING]),
        helper.make_tensor('type_median', TensorProto.FLOAT, [nt, nk], [v for r in med for v in r]),
        helper.make_tensor('type_weight', TensorProto.FLOAT, [nt, nk], [v for r in w for v in r]),
        helper.make_tensor('type_intercept', TensorProto.FLOAT, [nt, 1], c0),
        helper.make_tensor('type_slope', TensorProto.FLOAT, [nt, 1], slope),
        helper.make_tensor('sum_axis', TensorProto.INT64, [1], [1]),
        helper.make_tensor('vt_index', TensorProto.INT64, [1], [ALARM_TYPES.index(VT)]),
        helper.make_tensor('half', TensorProto.FLOAT, [], [0.5]),
    ]
    stack_nodes = [
        helper.make_node('Clip', ['logit', 'logit_min', 'logit_max'], ['logit_g'], name='logit_clip'),
        # For a VT alarm (one-hot column of VT is 1): the mean of both trees' clipped logits; else the global one.
        helper.make_node('Clip', ['logit_vt', 'logit_min', 'logit_max'], ['logit_vt_c'], name='logit_vt_clip'),
        helper.make_node('Gather', ['onehot', 'vt_index'], ['is_vt'], axis=1, name='is_vt'),
        helper.make_node('Sub', ['logit_vt_c', 'logit_g'], ['vt_diff'], name='vt_diff'),
        helper.make_node('Mul', ['vt_diff', 'half'], ['vt_half'], name='vt_half'),
        helper.make_node('Mul', ['vt_half', 'is_vt'], ['vt_shift'], name='vt_shift'),
        helper.make_node('Add', ['logit_g', 'vt_shift'], ['logit_c'], name='logit_blend'),
        helper.make_node('Gather', ['features', 'stack_cols'], ['sx'], axis=1, name='stack_gather'),
        helper.make_node('Equal', ['sx', 'missing'], ['sx_missing'], name='stack_missing'),
        helper.make_node('MatMul', ['onehot', 'type_median'], ['sx_median'], name='stack_median'),
        helper.make_node('Where', ['sx_missing', 'sx_median', 'sx'], ['sx_imp'], name='stack_impute'),
        helper.make_node('MatMul', ['onehot', 'type_weight'], ['sw'], name='stack_weight'),
        helper.make_node('Mul', ['sw', 'sx_imp'], ['swx'], name='stack_terms'),
        helper.make_node('ReduceSum', ['swx', 'sum_axis'], ['swx_sum'], keepdims=1, name='stack_sum'),
        helper.make_node('MatMul', ['onehot', 'type_slope'], ['sa'], name='stack_slope'),
        helper.make_node('Mul', ['sa', 'logit_c'], ['sz'], name='stack_scaled'),
        helper.make_node('MatMul', ['onehot', 'type_intercept'], ['sc'], name='stack_intercept'),
        helper.make_node('Add', ['sc', 'sz'], ['s1'], name='stack_add1'),
        helper.make_node('Add', ['s1', 'swx_sum'], ['logit2'], name='stack_add2'),
    ]
    sigmoid = helper.make_node('Sigmoid', ['logit2'], ['probability'], name='sigmoid')
    # threshold = one-hot(alarm type) · per-type thresholds; the one-hot is the last 5 features.
    onehot_start = names.index('type_' + ALARM_TYPES[0])
    starts = helper.make_tensor('onehot_start', TensorProto.INT64, [1], [onehot_start])
    ends = helper.make_tensor('onehot_end', TensorProto.INT64, [1], [onehot_start + len(ALARM_TYPES)])
    axes = helper.make_tensor('onehot_axis', TensorProto.INT64, [1], [1])
    thr = helper.make_tensor('type_thresholds', TensorProto.FLOAT, [len(ALARM_TYPES), 1],
                             [thresholds[a] for a in ALARM_TYPES])
    slice_ = helper.make_node('Slice', ['features', 'onehot_start', 'onehot_end', 'onehot_axis'], ['onehot'], name='onehot')
    matmul = helper.make_node('MatMul', ['onehot', 'type_thresholds'], ['threshold'], name='threshold')
    graph = helper.make_graph(
        [trees, vt_trees, slice_, *stack_nodes, sigmoid, matmul], 'alarm_validation',
        [helper.make_tensor_value_info('features', TensorProto.FLOAT, ['N', n_feat])],
        [helper.make_tensor_value_info('probability', TensorProto.FLOAT, ['N', 1]),
         helper.make_tensor_value_info('threshold', TensorProto.FLOAT, ['N', 1])],
        initializer=[starts, ends, axes, thr, *stack_init])
    m = helper.make_model(graph, producer_name='bedside-edge-gateway/models/train.py',
                          opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('ai.onnx.ml', 3)])
    m.ir_version = 8
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v if isinstance(v, str) else json.dumps(v)
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    with open(path, 'wb') as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def cv_seeds(csv_path, seeds):
    """Cross-validation only (global threshold), for other outer splits: one split's Score depends on which records
    share a fold, so the figure of one seed is read with those of others (inner seed = outer + 1, as 0 and 1)."""
    names, X, y, types, records = load(csv_path)
    strata = np.array([f'{t}:{l}' for t, l in zip(types, y)])
    for seed in seeds:
        _, pred, _ = cross_validate(X, y, types, strata, 'global', names, seed, seed + 1)
        print(f'outer seed {seed}: ' + json.dumps(report_block(y, types, pred)['overall']))


def main():
    if sys.argv[1] == '--cv-seeds':
        # train.py --cv-seeds 0,1,2 features.csv: no model written.
        cv_seeds(sys.argv[3], [int(s) for s in sys.argv[2].split(',')])
        return
    csv_path, out_dir = sys.argv[1], sys.argv[2]
    with open(csv_path + '.meta.json') as f:
        data_meta = json.load(f)
    names, X, y, types, records = load(csv_path)
    strata = np.array([f'{t}:{l}' for t, l in zip(types, y)])

    cv = {}
    for mode in ['global', 'per-type']:
        prob, pred, folds = cross_validate(X, y, types, strata, mode, names)
        cv[mode] = dict(results=report_block(y, types, pred), folds=folds)
        print(f'CV ({mode} threshold): ' + json.dumps(cv[mode]['results']['overall']), file=sys.stderr)

    final = fit(X, y)
    final_vt = fit_vt(X, y, types)
    oof = blend(out_of_fold(X, y, strata, INNER_SEED), vt_out_of_fold(X, y, types, INNER_SEED), types)
    stage2 = stack_fit(oof, X, y, types, names)
    oof2 = stack_oof(oof, X, y, types, strata, names, INNER_SEED)
    thresholds = choose_thresholds(oof2, y, types, THRESHOLD_MODE)
    meta = dict(model_version=MODEL_VERSION, feature_version=data_meta['featureVersion'],
                data_sha256=data_meta['dataSha256'], feature_names=names, thresholds=thresholds,
                threshold_mode=THRESHOLD_MODE, sensitivity_target=SENSITIVITY_TARGET)
    sha = export_onnx(final, final_vt, stage2, names, thresholds, meta, f'{out_dir}/edge-model.onnx')

    # Golden rows: the first record of every alarm type, with sklearn's probability for a parity test.
    golden = []
    for a in ALARM_TYPES:
        i = int(np.where(types == a)[0][0])
        golden.append(dict(record=records[i], alarmType=a,
                           probability=float(stack_predict(stage2, first_stage(final, final_vt, X[i:i + 1], types[i:i + 1]),
                                                           X[i:i + 1], types[i:i + 1])[0])))
    report = dict(
        modelVersion=MODEL_VERSION, modelFile='edge-model.onnx', modelSha256=sha,
        featureVersion=data_meta['featureVersion'], dataSha256=data_meta['dataSha256'],
        records=len(y), trueAlarms=int(y.sum()), falseAlarms=int((y == 0).sum()),
        featureNames=names, sklearnVersion=sklearn.__version__, onnxVersion=onnx.__version__,
        gbtParams=GBT_PARAMS, trueWeight=TRUE_WEIGHT,
        vtTrees=dict(alarmType=VT, records=int((types == VT).sum()), params='gbtParams',
                     combination='mean of the clipped logits of the global and the VT-only trees, for VT alarms'),
        stage2=dict(features=STACK_FEATURES, C=STACK_C, coef=[float(v) for v in stage2[1].coef_[0]],
                    stats={a: [dict(feature=names[j], median=m, mean=mu, sd=sd) for j, m, mu, sd in fl]
                           for a, fl in stage2[0].items()}), sensitivityTarget=SENSITIVITY_TARGET,
        thresholdMode=THRESHOLD_MODE, thresholds=thresholds,
        crossValidation=dict(method='5-fold by record, stratified by alarm type x label; thresholds from an inner '
                                    '5-fold CV on the training folds only', outerSeed=OUTER_SEED,
                             innerSeed=INNER_SEED, **cv),
        goldenSklearn=golden,
        trainingOutOfFoldProbability={r: round(float(p), 6) for r, p in zip(records, oof2)},
    )
    # Model card beside the model: what the runtime needs besides the graph (the ONNX metadata is not
    # readable from onnxruntime-node). The runtime refuses a card whose modelSha256 is not the file's.
    card = dict(modelVersion=MODEL_VERSION, modelFile='edge-model.onnx', modelSha256=sha,
                featureVersion=data_meta['featureVersion'], featureNames=names, thresholds=thresholds,
                thresholdMode=THRESHOLD_MODE, dataSha256=data_meta['dataSha256'])
    with open(f'{out_dir}/edge-model.card.json', 'w') as f:
        json.dump(card, f, indent=1)
        f.write('\n')
    with open(f'{out_dir}/edge-model.report.json', 'w') as f:
        json.dump(report, f, indent=1)
        f.write('\n')
    print(f'model {sha} thresholds {json.dumps(thresholds)}', file=sys.stderr)


if __name__ == '__main__':
    main()
