from real_helpers import copy_run, reference, trained_one_epoch  # noqa: F401  (fixtures)
