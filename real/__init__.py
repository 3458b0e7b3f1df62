"""Real mode: ResNet training on CIFAR-100 that is really preempted (SIGTERM, then
SIGKILL), checkpoints, resumes, and logs what each of those steps cost.

Processes: the supervisor (`real run`, real/supervisor.py) spawns trainer
processes (`python -m real.train`, real/train.py) one lifetime at a time. Both
append to one events.jsonl in the schema of spotsim/events.py, dated by one
monotonic run clock (real/runlog.py). Without `--interrupts` (and its `--rate`)
nothing preempts the trainer. A trainer killed without notice (from outside the
supervisor) is a preemption without notice: the next one resumes from the
newest durable checkpoint, until a crash loop (real/crashloop.py). A stopped
supervisor (Ctrl-C, SIGTERM) leaves a run that `real run --resume` continues.
The console shows progress (real/progress.py) unless `--quiet`.

Trainer exit codes (real/exitcodes.py): 0 all epochs done; 3 preempted, state
durable; 4 preempted, work since the last durable checkpoint lost; 5 a
checkpoint could not be written (disk full, I/O error); 2 bad configuration; 1
any other failure.
"""
