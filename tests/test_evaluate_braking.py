"""The braking model: known stopping distances, the verdict on a confirmation distance, bad settings, and
old metrics.json records upgraded to carry the field."""

import pytest

from patchsim.errors import PatchsimError
from patchsim.evaluate.braking import BrakingModel, braking_outcome
from patchsim.evaluate.records import METRICS_SCHEMA


def test_distance_needed_is_reaction_plus_braking_plus_the_line():
    # 10 m/s: 15 m of reaction, 100 / 12 = 8.33 m of braking, 3 m to the line
    assert BrakingModel(10.0).needed_m() == pytest.approx(26.333, abs=1e-3)
    assert BrakingModel(15.0).needed_m() == pytest.approx(22.5 + 18.75 + 3.0)
    assert BrakingModel(10.0, reaction_s=0.0, decel_mps2=5.0, stop_line_m=0.0).needed_m() == pytest.approx(10.0)


def test_the_car_stops_only_when_confirmed_far_enough():
    car = BrakingModel(10.0)
    early = braking_outcome(30.0, car)
    assert early.stops_before_line and early.stops_at_m == pytest.approx(30.0 - 23.33, abs=0.01)
    late = braking_outcome(20.0, car)
    assert not late.stops_before_line and late.stops_at_m == pytest.approx(-3.33, abs=0.01)  # rests past the sign
    at_line = braking_outcome(car.needed_m(), car)
    assert at_line.stops_before_line and at_line.stops_at_m == pytest.approx(3.0, abs=0.01)  # exactly at the line
    never = braking_outcome(None, car)
    assert not never.stops_before_line and never.stops_at_m is None and never.needed_m == pytest.approx(26.33)


@pytest.mark.parametrize("kw", [dict(speed_mps=0.0), dict(speed_mps=float("nan")), dict(speed_mps=10.0, decel_mps2=0.0),
                                dict(speed_mps=10.0, reaction_s=-1.0), dict(speed_mps=True)])
def test_bad_settings_are_refused(kw):
    with pytest.raises(PatchsimError, match="braking model"):
        BrakingModel(**kw)


def test_a_version_2_detector_record_gains_an_empty_verdict():
    run = {"detection_rate": 0.9, "fooled_rate": 0.1, "hallucinations_per_frame": 0.0, "per_distance": [],
           "confirmed": True, "confirmed_at_m": 38.0, "car_stops": True}
    v2 = {"schema_version": 2, "header": {"kind": "detector"}, "runs": {"clean": run, "attacked": dict(run)}}
    v3 = METRICS_SCHEMA.upgrade(v2, "metrics.json")
    assert all("car_stops" not in r and r["braking"] is None and r["confirmed_at_m"] == 38.0 for r in v3["runs"].values())
    classifier = {"schema_version": 2, "header": {"kind": "classifier"}, "metrics": {}}
    assert METRICS_SCHEMA.upgrade(classifier, "m.json")["metrics"] == {}
