import numpy as np
import pytest

from patchsim.errors import PatchsimError
from patchsim.evaluate.metrics import (binned, ema_filter, flip_rate, longest_streak, majority_filter, runs,
                                       sequence_metrics)
from patchsim.objectives.goals import Goal

STOP, TARGET, OTHER = 14, 5, 1


def test_flip_rate_exact():
    assert flip_rate(np.array([14, 14, 5, 5, 14, 1])) == 3 / 5
    assert flip_rate(np.array([14])) == 0.0 and flip_rate(np.array([5, 5, 5])) == 0.0


def test_runs_and_streak_exact():
    fooled = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1], bool)
    assert runs(fooled) == [(1, 3), (4, 7), (8, 9)]
    s = longest_streak(fooled, fps=30.0, speed_mps=10.0)
    assert s.frames == 3 and s.start == 4
    assert s.seconds == pytest.approx(0.1) and s.metres == pytest.approx(1.0)
    assert longest_streak(np.zeros(4, bool)).frames == 0


def test_majority_filter_exact():
    pred = np.array([14, 5, 5, 14, 5, 14, 14, 14])
    # 2-of-3: t0 {14}:no(1<2) ; t1 {14,5}: no ; t2 {14,5,5}: 5 ; t3 {5,5,14}: 5 ; t4 {5,14,5}: 5 ;
    # t5 {14,5,14}: 14 ; t6 {5,14,14}: 14 ; t7: 14
    assert majority_filter(pred, 2, 3).tolist() == [-1, -1, 5, 5, 5, 14, 14, 14]
    assert majority_filter(pred, 1, 1).tolist() == pred.tolist()
    with pytest.raises(PatchsimError, match="1 <= k <= n"):
        majority_filter(pred, 4, 3)


def test_ema_filter_exact():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    # alpha 0.4: m1 = (0.6, 0.4) -> 0; m2 = (0.36, 0.64) -> 1
    assert ema_filter(p, 0.4).tolist() == [0, 0, 1, 1]
    assert ema_filter(p, 1.0).tolist() == [0, 1, 1, 1]


def test_sequence_metrics_known_answer():
    pred = np.array([STOP, STOP, TARGET, TARGET, TARGET, STOP, TARGET, TARGET, OTHER, TARGET])
    probs = np.eye(43)[pred]
    dist = np.linspace(40, 31, 10)
    m = sequence_metrics(pred, probs, dist, Goal(STOP, TARGET), fps=30.0, speed_mps=30.0, k=2, n=3, alpha=1.0)
    assert m.success == 0.6 and m.flip_rate == 5 / 9
    assert m.longest_fooled_streak.frames == 3 and m.longest_fooled_streak.metres == pytest.approx(3.0)
    assert m.first_fooled_distance_m == 38.0 and m.last_fooled_distance_m == 31.0
    # 2-of-3 decisions: -1,-1? t0 [S]:-1 ; t1 [S,S]:S ; t2 [S,S,T]:S ; t3 [S,T,T]:T ; t4 T ; t5 [T,T,S]:T ;
    # t6 [T,S,T]:T ; t7 [S,T,T]:T ; t8 [T,T,O]:T ; t9 [T,O,T]:T  -> 7 of 10 fooled
    assert m.k_of_n.success == 0.7 and m.k_of_n.final_fooled
    # EMA with alpha 1 follows the frames: 6 fooled, final TARGET
    assert m.ema.success == 0.6 and m.ema.final_decision == TARGET and m.ema.flip_rate == 5 / 9
    untargeted = sequence_metrics(pred, probs, dist, Goal(STOP), k=2, n=3)
    assert untargeted.success == 0.7


def test_binned():
    b = binned(np.array([1.0, 2.0, 6.0, 7.0]), np.array([1, 0, 1, 1], bool), [0, 5, 10, 20])
    assert [x.success for x in b] == [0.5, 1.0, None] and [x.n for x in b] == [2, 2, 0]


def test_sequence_metrics_rejects_mismatch():
    with pytest.raises(PatchsimError, match="equal length"):
        sequence_metrics(np.array([1, 2]), np.zeros((3, 4)), np.zeros(2), Goal(1))


def test_goal_is_one_definition_for_torch_and_numpy():
    import torch

    from patchsim.attack.config import AttackConfig
    from patchsim.attack.eot import success

    g = Goal(STOP, TARGET)
    assert g.fooled(torch.tensor([TARGET, STOP, OTHER])).tolist() == [True, False, False]
    assert g.fooled([TARGET, STOP, OTHER]).tolist() == [True, False, False]
    assert Goal(STOP).fooled(np.array([TARGET, STOP])).tolist() == [True, False]
    logits = torch.zeros(2, 43)
    logits[0, TARGET] = logits[1, STOP] = 5
    assert success(logits, AttackConfig(target=TARGET, true_class=STOP)).tolist() == [True, False]
    assert Goal.from_classes([f"c{i}" for i in range(43)], "c14", 5) == Goal(14, 5)
    with pytest.raises(PatchsimError):
        Goal.from_classes(["a", "b"], "a", "zzz")


def test_distance_bins_cover_every_frame():
    """An approach from 60 m (the old fixed bins stopped at 40 m and dropped these frames)."""
    from patchsim.evaluate.metrics import covering_edges

    d = np.linspace(60.0, 5.0, 111)
    edges = covering_edges(d, 5.0, lo=0.0)
    assert edges[0] == 0 and edges[-1] > 60 and edges[-1] - edges[-2] == 5
    bins = binned(d, np.ones_like(d, bool), edges)
    assert sum(b.n for b in bins) == len(d)
    assert covering_edges(np.array([40.0]), 5.0, lo=0.0)[-1] == 45.0  # 40 m itself is in [40, 45)
    with pytest.raises(PatchsimError, match="positive step"):
        covering_edges(d, 0.0)
