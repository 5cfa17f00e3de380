"""The learning-rate schedules a profile's ``optimizer`` names: constant, cosine, step."""

from __future__ import annotations

from actbook.runner.backend import keras_module

keras = keras_module()

from actbook.runner.profiles import SCHEDULES  # noqa: E402

__all__ = ["learning_rate", "WarmupThen"]


@keras.saving.register_keras_serializable(package="actbook")
class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then ``after``
    (a schedule counted from the start of training, as the paper's step decay is)."""

    def __init__(self, after, warmup_steps: int, peak: float):
        self.after, self.warmup_steps, self.peak = after, int(warmup_steps), float(peak)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * step / max(self.warmup_steps, 1)
        return keras.ops.where(step < self.warmup_steps, warm, self.after(step))

    def get_config(self):
        return {"after": keras.saving.serialize_keras_object(self.after), "warmup_steps": self.warmup_steps,
                "peak": self.peak}

    @classmethod
    def from_config(cls, config):
        config = dict(config, after=keras.saving.deserialize_keras_object(config["after"]))
        return cls(**config)


def learning_rate(opt: dict, steps_per_epoch: int, epochs: int):
    """The learning rate or schedule an optimizer config asks for
    (:func:`actbook.runner.profiles.with_defaults` fills in ``warmup_epochs``).

    ``cosine``: linear warm-up over ``warmup_epochs``, then cosine decay to 0.
    ``step``: the same warm-up, then ``learning_rate * step_factor**k`` after
    the k-th of ``step_epochs``. ``constant``: no schedule, no warm-up.
    """
    peak, schedule = opt["learning_rate"], opt["schedule"]
    if schedule == "constant":
        return peak
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    total = steps_per_epoch * epochs
    warmup = int(round(opt["warmup_epochs"] * steps_per_epoch))
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else peak, decay_steps=max(total - warmup, 1),
            warmup_target=peak if warmup else None, warmup_steps=warmup, alpha=0.0)
    if schedule == "step":
        bounds = [int(e * steps_per_epoch) for e in opt["step_epochs"]]
        values = [peak * opt["step_factor"] ** i for i in range(len(bounds) + 1)]
        steps = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
        return WarmupThen(steps, warmup, peak) if warmup else steps
