from real_helpers import copy_run, trained_one_epoch  # noqa: F401  (fixtures)
