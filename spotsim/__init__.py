"""spotsim: what preemption costs deep-learning training on Spot GPUs.

The simulator (this package) imports no torch. Real mode (`real`) and
calibration (`calibrate`) share its strategies, interrupt patterns and
event schema.
"""

__version__ = "0.1.0"
