"""Schedules: values at a few steps worked by hand, binding from the run, names and configs."""

import json
import math

import numpy as np
import pytest

from chainrule.schedules import (
    SCHEDULES,
    Constant,
    CosineDecay,
    InverseTimeDecay,
    OneCycle,
    StepDecay,
    get_schedule,
)


def approx(value):
    return pytest.approx(value, rel=1e-12, abs=1e-15)


def test_constant():
    s = Constant(0.1)
    assert s(0) == s(1000) == 0.1


def test_step_decay_by_hand():
    s = StepDecay(learning_rate=1.0, factor=0.5, every_steps=3)
    # lr * 0.5 ** floor(step / 3)
    assert [s(k) for k in (0, 2, 3, 5, 6, 8, 9)] == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_step_decay_in_epochs_is_bound_to_steps():
    s = StepDecay(factor=0.1, every_epochs=2).bind(0.3, steps_per_epoch=5, epochs=10)
    assert s.every_steps == 10
    assert s(9) == approx(0.3)
    assert s(10) == approx(0.03)
    default = StepDecay().bind(1.0, steps_per_epoch=4, epochs=8)  # every 8 // 4 = 2 epochs
    assert default.every_steps == 8


def test_cosine_by_hand():
    s = CosineDecay(learning_rate=1.0, decay_steps=4)
    # 0.5 * (1 + cos(pi * t / 4))
    assert s(0) == approx(1.0)
    assert s(1) == approx(0.5 * (1 + math.cos(math.pi / 4)))  # 0.853553...
    assert s(1) == pytest.approx(0.8535533906)
    assert s(2) == approx(0.5)
    assert s(3) == pytest.approx(0.1464466094)
    assert s(4) == approx(0.0)
    assert s(10) == approx(0.0)  # held at the end
    floor = CosineDecay(learning_rate=1.0, decay_steps=4, min_learning_rate=0.1)
    assert floor(2) == approx(0.1 + 0.9 * 0.5)
    assert floor(4) == approx(0.1)


def test_cosine_warmup_by_hand():
    s = CosineDecay(learning_rate=1.0, decay_steps=10, warmup_steps=4)
    # warm-up: lr * (step + 1) / (warmup + 1), then cosine from the peak
    assert [s(k) for k in range(4)] == [approx(v) for v in (0.2, 0.4, 0.6, 0.8)]
    assert s(4) == approx(1.0)
    assert s(9) == approx(0.5)
    assert s(14) == approx(0.0)


def test_cosine_bound_to_the_run():
    s = CosineDecay(warmup_steps=2).bind(0.01, steps_per_epoch=10, epochs=3)
    assert s.learning_rate == 0.01
    assert s.decay_steps == 28
    assert s(2 + 14) == approx(0.005)


def test_inverse_time_by_hand():
    s = InverseTimeDecay(learning_rate=1.0, decay_rate=0.5, decay_steps=10)
    # lr / (1 + 0.5 * step / 10)
    assert s(0) == 1.0
    assert s(10) == approx(1 / 1.5)
    assert s(20) == approx(0.5)
    assert InverseTimeDecay().bind(2.0, steps_per_epoch=7, epochs=3).decay_steps == 7


def test_one_cycle_by_hand():
    s = OneCycle(learning_rate=1.0, total_steps=11, warmup_fraction=0.2)
    # warm = round(0.2 * 11) = 2; start = 1 / 25 = 0.04; end = 0.04 / 1e4 = 4e-6
    assert s(0) == approx(0.04)
    assert s(1) == approx(0.04 + 0.96 * 0.5)
    assert s(2) == approx(1.0)
    # after the peak: p = (step - 2) / (11 - 1 - 2); step 6 is halfway
    assert s(6) == approx(4e-6 + (1 - 4e-6) * 0.5)
    assert s(10) == approx(4e-6)
    assert s(50) == approx(4e-6)


def test_one_cycle_to_3e_3_over_3_epochs():
    s = get_schedule("one_cycle").bind(3e-3, steps_per_epoch=100, epochs=3)
    values = [s(k) for k in range(300)]
    assert max(values) == approx(3e-3)
    assert values.index(max(values)) == 90
    assert values[0] == approx(3e-3 / 25)
    assert values[-1] == approx(3e-3 / 25 / 1e4)


def test_one_cycle_short_runs_by_hand():
    # start = 1 / 25 = 0.04, end = 4e-6
    def rates(total_steps, fraction=0.3):
        s = OneCycle(learning_rate=1.0, total_steps=total_steps, warmup_fraction=fraction)
        return [s(k) for k in range(total_steps)]

    assert rates(1) == [approx(1.0)]  # too short for a warm-up: the single step is the peak
    assert rates(2) == [approx(1.0), approx(4e-6)]  # peak, then end
    assert rates(3) == [approx(0.04), approx(1.0), approx(4e-6)]  # start, peak, end
    # warm = round(0.99 * 5) = 5 is clamped to 5 - 2 = 3: warm-up over 3 steps, then the end
    assert rates(5, 0.99) == [approx(v) for v in (0.04, 0.36, 0.68, 1.0, 4e-6)]
    # warm = round(0 * 4) = 0 is raised to 1: the warm-up is never empty when there is room
    assert rates(4, 0.0) == [approx(v) for v in (0.04, 1.0, 4e-6 + (1 - 4e-6) * 0.5, 4e-6)]


@pytest.mark.parametrize("total_steps", [1, 2, 3, 4, 5, 7, 20])
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.99])
def test_one_cycle_reaches_the_peak_at_warm_and_ends_at_end(total_steps, fraction):
    s = OneCycle(learning_rate=1.0, total_steps=total_steps, warmup_fraction=fraction)
    warm = min(max(1, round(fraction * total_steps)), max(0, total_steps - 2))  # the docstring's
    values = [s(k) for k in range(total_steps)]
    assert s(warm) == approx(1.0) == max(values)
    if total_steps >= 2:
        assert values[-1] == approx(1 / 25 / 1e4)
        assert warm < total_steps - 1  # the peak is not the last step
    if total_steps >= 3:
        assert values[0] == approx(1 / 25)
    assert values[: warm + 1] == sorted(values[: warm + 1])  # warm-up rises
    assert values[warm:] == sorted(values[warm:], reverse=True)  # annealing falls
    assert s(total_steps + 5) == approx(1 / 25 / 1e4)  # held at the end


def test_numpy_scalar_settings_are_stored_as_python_numbers():
    schedules = [
        Constant(learning_rate=np.float32(0.5)),
        StepDecay(np.float64(0.1), factor=np.float32(0.5), every_steps=np.int64(3)),
        CosineDecay(warmup_steps=np.int64(2), decay_steps=np.uint8(10), min_learning_rate=0),
        InverseTimeDecay(decay_rate=np.float16(0.5), decay_steps=np.int32(4)),
        OneCycle(total_steps=np.int64(10), warmup_fraction=np.float64(0.25)),
        OneCycle(),  # total_steps from bind's NumPy integers below
    ]
    for s in schedules:
        bound = s.bind(np.float32(0.1), steps_per_epoch=np.int64(5), epochs=4)
        config = bound.config()
        assert all(type(v) in (str, int, float, type(None)) for v in config.values()), config
        again = get_schedule(json.loads(json.dumps(config)))
        assert again == bound
        assert [again(k) for k in range(12)] == [bound(k) for k in range(12)]
    assert schedules[0].learning_rate == 0.5 and type(schedules[0].learning_rate) is float
    assert schedules[1].every_steps == 3 and type(schedules[1].every_steps) is int


@pytest.mark.parametrize(
    ("make", "setting"),
    [
        (lambda: Constant(True), "learning_rate"),
        (lambda: Constant(np.float64("nan")), "learning_rate"),
        (lambda: Constant("0.1"), "learning_rate"),
        (lambda: StepDecay(every_steps=np.float64(2.5)), "every_steps"),
        (lambda: CosineDecay(warmup_steps=10**400), "warmup_steps"),
        (lambda: OneCycle(warmup_fraction=np.float64(1.0)), "warmup_fraction"),
        (lambda: OneCycle(warmup_fraction=True), "warmup_fraction"),
        (lambda: OneCycle(warmup_fraction="0.3"), "warmup_fraction"),
    ],
)
def test_bad_settings_are_named(make, setting):
    with pytest.raises(ValueError, match=f"{setting} must be"):
        make()


def test_explicit_learning_rate_wins_over_the_optimizer():
    assert Constant(0.5).bind(0.1, 10, 2)(0) == 0.5
    assert Constant().bind(0.1, 10, 2)(0) == 0.1


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_names_and_config_round_trip(name):
    bound = get_schedule(name).bind(0.1, steps_per_epoch=5, epochs=4)
    again = get_schedule(bound.config())
    assert again == bound
    assert [again(k) for k in range(20)] == [bound(k) for k in range(20)]
    assert all(v > 0 for v in (bound(k) for k in range(19)))


def test_unknown_name_and_unbound_use():
    with pytest.raises(ValueError, match="unknown schedule 'linear'.*constant, cosine"):
        get_schedule("linear")
    assert isinstance(get_schedule(None), Constant)
    with pytest.raises(ValueError, match="learning_rate"):
        Constant()(0)
    with pytest.raises(ValueError, match="decay_steps"):
        CosineDecay(1.0)(3)
    with pytest.raises(ValueError, match="every_steps"):
        StepDecay(0.1, every_steps=0)
    with pytest.raises(ValueError, match="warmup_fraction"):
        OneCycle(warmup_fraction=1.5)
