"""The former home of the mean-field recursion, the vanishing-gradient
experiment's settings and measurements, the activation shapes, SELU's
constants and the later arms' table, each now in the module of its concern.
Every name here is an alias until the chapters import from those modules.
"""

from actbook.analysis.stats import later_arms_sentence, later_arms_table  # alias until chapters move (lead)
from actbook.gradients import activation_norms, first_over_last, unit_statistics  # alias until chapters move (lead)
from actbook.mean_field import (critical_weight_variance, fixed_point_gain, gradient_estimate,  # alias until chapters move (lead)
                                mean_field, output_mean, saturated_fraction)
from actbook.plotting import shapes_figure  # alias until chapters move (lead)
from actbook.properties import curve, dip  # alias until chapters move (lead)
from actbook.selu_constants import (selu_constants_against_exact, selu_constants_exact,  # alias until chapters move (lead)
                                    selu_output_moments)
from actbook.vanishing import VANISHING, ProbeData, probe_data  # alias until chapters move (lead)
