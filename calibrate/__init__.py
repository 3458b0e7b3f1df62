"""Calibration and validation: measured event logs in, simulator parameters and checks out.

- `runs`: an event log (simulated or real) read into runs and lifetimes, and what
  each run measured, put on the cloud's timeline (see `runs.measure`);
- `fit`: the scenario parameters fitted from the runs, each with its evidence;
- `scenario_yaml`: the calibrated scenario written as commented YAML;
- `validate`: each measured run replayed through the simulator and compared;
- `cli`: the `spotsim calibrate` and `spotsim validate` commands.
"""
